# Floods zero-length length-prefixed frames (64 KiB of zeros per send) for N seconds and reads nothing.
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
buf = b"\0" * 65536
end = time.time() + float(sys.argv[2])
while time.time() < end:
    s.sendall(buf)
