# 100 asyncio clients, each doing N sequential 32-byte round trips over the length protocol; prints p50 and p99.
import asyncio, struct, sys, time
async def one(port, n, lat):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    msg = struct.pack(">I", 32) + b"x"*32
    for i in range(n):
        t = time.perf_counter()
        w.write(msg); await w.drain()
        await r.readexactly(36)
        lat.append((time.perf_counter()-t)*1000)
    w.close()
async def main(port, clients, n):
    lat = []
    await asyncio.gather(*[one(port, n, lat) for _ in range(clients)])
    lat.sort()
    print(f"p50 {lat[len(lat)//2]:.2f} ms p99 {lat[int(len(lat)*0.99)]:.2f} ms n={len(lat)}")
asyncio.run(main(int(sys.argv[1]), 100, int(sys.argv[2])))
