"""Why pbx-bridge has its own FastAGI server: panoramisk 1.4's, reproduced (issue 4).

- A client that closes before the blank line freezes panoramisk's whole event loop (its reader
  spins on EOF without ever yielding). Run in a child process, which is killed afterwards.
- `add_route` with a plain function raises AttributeError on Python >= 3.11.
The same clients against `AgiServer`: tests/pbx/asterisk/test_fastagi_robustness.py.
"""

from __future__ import annotations

import asyncio
import sys

import pytest

pytest.importorskip("panoramisk")

from panoramisk.fast_agi import Application

CHILD = """
import asyncio, sys
from panoramisk.fast_agi import Application

async def route(request):
    await request.send_command("SET VARIABLE X 1")

async def main():
    app = Application(loop=asyncio.get_running_loop())
    app.add_route("route", route)
    server = await asyncio.start_server(app.handler, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    while True:  # a heartbeat: one dot every 10 ms while the loop runs
        await asyncio.sleep(0.01)
        sys.stdout.write(".")
        sys.stdout.flush()

asyncio.run(main())
"""


async def silent_for(stream: asyncio.StreamReader, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            return not await stream.read(4096)  # EOF would mean the child died: not silent
    except TimeoutError:
        return True


def test_panoramisk_fastagi_freezes_its_loop_on_an_early_close() -> None:
    async def main() -> None:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CHILD, stdout=asyncio.subprocess.PIPE
        )
        assert child.stdout is not None
        try:
            port = int(await asyncio.wait_for(child.stdout.readline(), 20))
            assert not await silent_for(child.stdout, 2.0)  # the heartbeat runs
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"agi_network: yes\nagi_network_script: rou")  # the caller hangs up
            writer.close()
            frozen = False
            async with asyncio.timeout(10):
                while not frozen:  # dots written before the close are read first
                    frozen = await silent_for(child.stdout, 1.0)
            assert frozen and child.returncode is None  # alive, but its loop never runs again
        finally:
            child.kill()
            await child.wait()

    asyncio.run(main())


def test_panoramisk_add_route_refuses_a_plain_function() -> None:
    async def main() -> None:
        app = Application(loop=asyncio.get_running_loop())
        with pytest.raises(AttributeError, match="coroutine"):
            app.add_route("route", lambda request: None)

    asyncio.run(main())
