#!/usr/bin/env python3
"""Records Kafka frames between clients and a broker (tools/vectors/capture.sh).

    capture_proxy.py LISTEN_PORT BROKER_HOST:PORT OUT_DIR CLIENT_NAME

Every request frame is written as OUT_DIR/NNNN-req-KEY-vVER.bin and its
response as OUT_DIR/NNNN-resp-KEY-vVER.bin (payload without the 4-byte size,
response bytes as the broker sent them). Responses naming the broker's own
address (Metadata, FindCoordinator) are patched on the way to the client so
that the client's later connections also come through the proxy.
Standard library only; runs until killed.
"""
import os
import socket
import struct
import sys
import threading

lock = threading.Lock()
seq = [0]


def read_exact(sock, n):
    buf = b''
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except OSError:  # the other direction closed the socket
            return None
        if not chunk:
            return None
        buf += chunk
    return buf


def read_frame(sock):
    size = read_exact(sock, 4)
    if size is None:
        return None
    (n,) = struct.unpack('>i', size)
    return read_exact(sock, n)


def handle(client, broker_addr, listen_port, out_dir):
    upstream = socket.create_connection(broker_addr)
    host, port = broker_addr
    pattern = host.encode() + struct.pack('>i', port)
    patched = host.encode() + struct.pack('>i', listen_port)
    pending = {}

    def pump_responses():
        while True:
            frame = read_frame(upstream)
            if frame is None:
                client.close()
                return
            (corr,) = struct.unpack('>i', frame[:4])
            with lock:
                tag = pending.pop(corr, None)
            if tag is not None:
                name = '%s-resp-%d-v%d.bin' % tag
                with open(os.path.join(out_dir, name), 'wb') as fh:
                    fh.write(frame)
            frame = frame.replace(pattern, patched)
            try:
                client.sendall(struct.pack('>i', len(frame)) + frame)
            except OSError:
                return

    threading.Thread(target=pump_responses, daemon=True).start()
    while True:
        frame = read_frame(client)
        if frame is None:
            upstream.close()
            return
        key, ver, corr = struct.unpack('>hhi', frame[:8])
        with lock:
            seq[0] += 1
            tag = ('%04d' % seq[0], key, ver)
            pending[corr] = tag
        with open(os.path.join(out_dir, '%s-req-%d-v%d.bin' % tag), 'wb') as fh:
            fh.write(frame)
        try:
            upstream.sendall(struct.pack('>i', len(frame)) + frame)
        except OSError:
            client.close()
            return


def main():
    listen_port = int(sys.argv[1])
    host, port = sys.argv[2].rsplit(':', 1)
    out_dir = sys.argv[3]
    os.makedirs(out_dir, exist_ok=True)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(('127.0.0.1', listen_port))
    srv.listen(16)
    print('ready', flush=True)
    while True:
        c, _ = srv.accept()
        threading.Thread(target=handle, args=(c, (host, int(port)), listen_port, out_dir),
                         daemon=True).start()


if __name__ == '__main__':
    main()
