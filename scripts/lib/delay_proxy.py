#!/usr/bin/env python3
"""A TCP proxy that delays every byte by half the round trip in each direction (netem is not
in this kernel), for the slow-link benchmark. Order is kept; nothing is dropped here (loss is
an iptables rule on the proxied port). Counts the bytes it carries and writes the totals to
COUNTS every second.

usage: delay_proxy.py RTT_MS COUNTS LISTEN_HOST:PORT=TARGET_HOST:PORT ...
"""

import asyncio
import os
import sys
import time

carried = 0


async def pump(reader, writer, delay):
    """Copies reader to writer, each chunk written `delay` seconds after it was read."""
    global carried
    queue = asyncio.Queue()

    async def send():
        while True:
            due, data = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        writer.close()

    sender = asyncio.ensure_future(send())
    try:
        while True:
            data = await reader.read(65536)
            carried += len(data)
            queue.put_nowait((time.monotonic() + delay, data))
            if not data:
                break
        await sender
    except (ConnectionError, OSError):
        sender.cancel()
        writer.close()


async def serve(listen, target, delay):
    lhost, lport = listen.rsplit(":", 1)
    thost, tport = target.rsplit(":", 1)

    async def on_client(creader, cwriter):
        try:
            sreader, swriter = await asyncio.open_connection(thost, int(tport))
        except OSError:
            cwriter.close()
            return
        await asyncio.gather(pump(creader, swriter, delay), pump(sreader, cwriter, delay))

    server = await asyncio.start_server(on_client, lhost, int(lport))
    await server.serve_forever()


async def report(path):
    while True:
        with open(path + ".tmp", "w") as f:
            f.write(f"{carried}\n")
        os.replace(path + ".tmp", path)
        await asyncio.sleep(1)


async def main():
    rtt_ms, counts = float(sys.argv[1]), sys.argv[2]
    delay = rtt_ms / 2000.0
    tasks = [serve(*pair.split("="), delay) for pair in sys.argv[3:]]
    await asyncio.gather(report(counts), *tasks)


asyncio.run(main())
