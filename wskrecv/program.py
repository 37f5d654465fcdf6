"""The program: what `wskrecv listen`, `wskrecv event` and `wskrecv run` run once their
options are parsed (httpie's `core.program(args, env)`): one receive session
(wskrecv.session), carried out in this process or, with --workers, by worker processes.

The receive machinery is imported when a run starts: the commands import this module
only then, so `--help` does not pay for it (tests/cli/test_startup.py).
"""

from __future__ import annotations

from typing import Callable

from wskrecv.config import ReceiveConfig
from wskrecv.environment import Environment


def receive(config: ReceiveConfig, env: Environment,
            option_name: Callable[[str], str] = str) -> int:
    """Run `config` and report; returns the exit status (errors propagate as WskrecvError
    for `cli.main` to report). What the run says of an option (a failed threshold) calls
    its ReceiveConfig field `option_name(field)`: the command line passes its flags'
    names. With --inject-systematic, the runs of the systematic mode (session/systematic.py)."""
    from wskrecv.session.inject import with_seed

    config = with_seed(config)  # one seed for the whole run (and its systematic runs)
    if config.inject_systematic is not None and config.fail_call is None:
        from wskrecv.session import systematic

        return systematic.run(config, env, option_name, session)
    return session(config, env, option_name)


def session(config: ReceiveConfig, env: Environment,
            option_name: Callable[[str], str] = str) -> int:
    """One receive session of `config`, carried out in this process, by --workers, or
    over a --replay capture."""
    from wskrecv.session.receive import ReceiveSession, Strategy

    strategy: Strategy
    if config.replay is not None:
        from wskrecv.session.replay import Replay

        strategy = Replay(config)
    elif config.workers is not None:
        from wskrecv.session.workers import Workers

        strategy = Workers(config)
    else:
        from wskrecv.session.single import OneProcess

        strategy = OneProcess(config)
    return ReceiveSession(config, env, strategy, option_name).run()


__all__ = ["receive", "session"]
