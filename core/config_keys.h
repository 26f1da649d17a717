/*
 * core/config_keys.h: every configuration key Spindle knows, in one table.
 *
 * Included by core/config.h with SP_CONFIG_KEY defined. A row is:
 *
 *   SP_CONFIG_KEY(ID, "kafka.name", TYPE, "default", MIN, MAX, "allowed", "doc")
 *
 * TYPE is INT (64-bit, MIN..MAX inclusive), BOOL, DOUBLE (MIN..MAX), STRING
 * ("allowed" is a comma-separated set, or "" for any) or LIST (comma-separated
 * strings). Names follow Kafka's where Kafka has the setting. To add a key,
 * add a row; sp_config_int(cfg, SP_CFG_<ID>) then reads it.
 */
/* clang-format off */
SP_CONFIG_KEY(NODE_ID, "node.id", INT, "1", 0, 2147483647, "",
    "This broker's id in the cluster.")
SP_CONFIG_KEY(LISTENERS, "listeners", LIST, "PLAINTEXT://127.0.0.1:9092", 0, 0, "",
    "Comma-separated NAME://host:port listeners; port 0 picks a free port.")
SP_CONFIG_KEY(ADVERTISED_LISTENERS, "advertised.listeners", LIST, "", 0, 0, "",
    "Addresses given to clients; empty means the bound listeners.")
SP_CONFIG_KEY(LOG_DIRS, "log.dirs", LIST, "./data", 0, 0, "",
    "Directories that hold partition data.")
SP_CONFIG_KEY(LOGGER_LEVEL, "logger.level", STRING, "info", 0, 0, "error,warn,info,debug,trace",
    "Threshold of the process log on stderr.")
SP_CONFIG_KEY(SMP, "smp", INT, "0", 0, 1024, "",
    "Number of shards (one thread each); 0 means the CPUs the process may use.")
SP_CONFIG_KEY(IO_URING_FEATURES, "io_uring.features", STRING, "auto", 0, 0, "",
    "Cap io_uring features at a kernel version such as 6.1; auto uses what the kernel has.")
SP_CONFIG_KEY(SHUTDOWN_DRAIN_MS, "shutdown.drain.ms", INT, "10000", 0, 3600000, "",
    "On SIGTERM, how long in-flight requests may take to finish before exit.")
SP_CONFIG_KEY(NUM_PARTITIONS, "num.partitions", INT, "1", 1, 1000000, "",
    "Partitions of an auto-created topic.")
SP_CONFIG_KEY(DEFAULT_REPLICATION_FACTOR, "default.replication.factor", INT, "1", 1, 32767, "",
    "Replication factor of an auto-created topic.")
SP_CONFIG_KEY(AUTO_CREATE_TOPICS_ENABLE, "auto.create.topics.enable", BOOL, "true", 0, 0, "",
    "Create a topic when a client asks for metadata of one that does not exist.")
SP_CONFIG_KEY(LOG_RETENTION_HOURS, "log.retention.hours", INT, "168", -1, 2147483647, "",
    "Hours to keep a segment; used when log.retention.ms is not set.")
SP_CONFIG_KEY(LOG_RETENTION_MS, "log.retention.ms", INT, "-2", -2, INT64_MAX, "",
    "Milliseconds to keep a segment; -1 keeps forever, -2 (unset) defers to log.retention.hours.")
SP_CONFIG_KEY(LOG_RETENTION_BYTES, "log.retention.bytes", INT, "-1", -1, INT64_MAX, "",
    "Bytes a partition may keep before old segments go; -1 means no limit.")
SP_CONFIG_KEY(LOG_SEGMENT_BYTES, "log.segment.bytes", INT, "1073741824", 4096, 2147483647, "",
    "Size at which a segment is rolled.")
SP_CONFIG_KEY(LOG_ROLL_HOURS, "log.roll.hours", INT, "168", 1, 2147483647, "",
    "Age at which a segment is rolled even when not full.")
SP_CONFIG_KEY(LOG_INDEX_INTERVAL_BYTES, "log.index.interval.bytes", INT, "4096", 0, 2147483647, "",
    "Bytes between entries of the sparse offset index.")
SP_CONFIG_KEY(LOG_FLUSH_INTERVAL_MESSAGES, "log.flush.interval.messages", INT, "9223372036854775807",
    1, INT64_MAX, "",
    "Messages accumulated before a forced flush; acks=all waits for a flush regardless.")
SP_CONFIG_KEY(LOG_FLUSH_INTERVAL_MS, "log.flush.interval.ms", INT, "-1", -1, INT64_MAX, "",
    "Maximum time data stays unflushed; -1 means only acks=all and the message count flush.")
SP_CONFIG_KEY(LOG_DIRS_FORCE_BUFFERED_IO, "log.dirs.force.buffered.io", BOOL, "false", 0, 0, "",
    "Write segments through the page cache instead of O_DIRECT (for filesystems without it).")
SP_CONFIG_KEY(LOG_FLUSH_ACKS_ALL_WAIT, "log.flush.acks.all.wait", BOOL, "true", 0, 0, "",
    "acks=all waits for fdatasync and the high watermark trails the durable offset.")
SP_CONFIG_KEY(LOG_CACHE_BYTES, "log.cache.bytes", INT, "268435456", 0, INT64_MAX, "",
    "Per-shard budget of the batch cache that serves reads at the tail of a log.")
SP_CONFIG_KEY(LOG_WRITE_BUFFER_BYTES, "log.write.buffer.bytes", INT, "268435456", 1048576,
    INT64_MAX, "",
    "Per-shard budget of write-behind buffers; appends beyond it wait for writes.")
SP_CONFIG_KEY(LOG_OPEN_FILES_MAX, "log.open.files.max", INT, "1024", 1, 1048576, "",
    "Per-shard cap on open files of inactive segments; least recently used close first.")
SP_CONFIG_KEY(MESSAGE_MAX_BYTES, "message.max.bytes", INT, "1048588", 0, 2147483647, "",
    "Largest record batch the broker accepts.")
SP_CONFIG_KEY(SOCKET_REQUEST_MAX_BYTES, "socket.request.max.bytes", INT, "104857600", 1024,
    2147483647, "",
    "Largest request frame; a bigger one closes the connection.")
SP_CONFIG_KEY(MAX_CONNECTIONS, "max.connections", INT, "2147483647", 0, 2147483647, "",
    "Connections the broker accepts in all; more are closed at once.")
SP_CONFIG_KEY(CONNECTIONS_MAX_IDLE_MS, "connections.max.idle.ms", INT, "600000", -1, INT64_MAX, "",
    "Idle connections are closed after this long; -1 never.")
SP_CONFIG_KEY(MAX_INCREMENTAL_FETCH_SESSION_CACHE_SLOTS, "max.incremental.fetch.session.cache.slots",
    INT, "1000", 0, 2147483647, "",
    "Fetch sessions (KIP-227) the broker keeps in all, shared out over the shards; 0 disables them.")
SP_CONFIG_KEY(PRODUCER_ID_EXPIRATION_MS, "producer.id.expiration.ms", INT, "86400000", 1,
    2147483647, "",
    "A producer id idle this long is forgotten by a partition (its retries are no longer de-duplicated).")
SP_CONFIG_KEY(LOG_CLEANER_DEDUPE_BUFFER_SIZE, "log.cleaner.dedupe.buffer.size", INT, "16777216",
    65536, 4294967296, "",
    "Per-shard memory of the log cleaner's key map; a larger dirty section is cleaned in passes.")
SP_CONFIG_KEY(OFFSETS_TOPIC_NUM_PARTITIONS, "offsets.topic.num.partitions", INT, "50", 1, 10000, "",
    "Partitions of __consumer_offsets, created when a group first needs its coordinator.")
SP_CONFIG_KEY(OFFSETS_TOPIC_REPLICATION_FACTOR, "offsets.topic.replication.factor", INT, "-1", -1,
    32767, "",
    "Replication factor of __consumer_offsets; -1 means as many as the cluster has, at most 3.")
SP_CONFIG_KEY(OFFSETS_TOPIC_SEGMENT_BYTES, "offsets.topic.segment.bytes", INT, "104857600", 1048576,
    2147483647, "",
    "Segment size of __consumer_offsets (kept small so that compaction keeps loading fast).")
SP_CONFIG_KEY(OFFSETS_RETENTION_MINUTES, "offsets.retention.minutes", INT, "10080", 1, 2147483647,
    "",
    "Committed offsets of a group that has been empty this long (or, without a group, not committed for this long) are removed.")
SP_CONFIG_KEY(OFFSETS_RETENTION_CHECK_INTERVAL_MS, "offsets.retention.check.interval.ms", INT,
    "600000", 1, INT64_MAX, "",
    "How often each coordinator looks for expired offsets.")
SP_CONFIG_KEY(OFFSET_METADATA_MAX_BYTES, "offset.metadata.max.bytes", INT, "4096", 0, 2147483647,
    "",
    "Largest metadata string an offset commit may carry (OFFSET_METADATA_TOO_LARGE above).")
SP_CONFIG_KEY(GROUP_INITIAL_REBALANCE_DELAY_MS, "group.initial.rebalance.delay.ms", INT, "3000", 0,
    2147483647, "",
    "How long the first rebalance of an empty classic group waits for more members to join.")
SP_CONFIG_KEY(GROUP_MIN_SESSION_TIMEOUT_MS, "group.min.session.timeout.ms", INT, "6000", 1,
    2147483647, "",
    "Smallest session timeout a classic group member may ask for.")
SP_CONFIG_KEY(GROUP_MAX_SESSION_TIMEOUT_MS, "group.max.session.timeout.ms", INT, "1800000", 1,
    2147483647, "",
    "Largest session timeout a classic group member may ask for.")
SP_CONFIG_KEY(GROUP_MAX_SIZE, "group.max.size", INT, "2147483647", 1, 2147483647, "",
    "Most members a classic group may have.")
SP_CONFIG_KEY(GROUP_COORDINATOR_REBALANCE_PROTOCOLS, "group.coordinator.rebalance.protocols", LIST,
    "classic,consumer", 0, 0, "",
    "Group protocols served: classic (JoinGroup/SyncGroup) and consumer (KIP-848).")
SP_CONFIG_KEY(GROUP_CONSUMER_SESSION_TIMEOUT_MS, "group.consumer.session.timeout.ms", INT, "45000",
    1, 2147483647, "",
    "Session timeout of consumer-protocol (KIP-848) members.")
SP_CONFIG_KEY(GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS, "group.consumer.heartbeat.interval.ms", INT,
    "5000", 1, 2147483647, "",
    "Heartbeat interval given to consumer-protocol (KIP-848) members.")
SP_CONFIG_KEY(GROUP_CONSUMER_MAX_SIZE, "group.consumer.max.size", INT, "2147483647", 1,
    2147483647, "",
    "Most members a consumer-protocol (KIP-848) group may have.")
SP_CONFIG_KEY(GROUP_CONSUMER_ASSIGNORS, "group.consumer.assignors", LIST, "uniform,range", 0, 0,
    "",
    "Server-side assignors of consumer-protocol groups; the first is the default.")
/* clang-format on */
