"""Running untrusted submissions: a pre-started worker (zygote) per grading slot, one child per submission."""

from __future__ import annotations

import os
from typing import Sequence

from .isolation import SANDBOX_UID_BASE, Isolation, choose
from .limits import Limits
from .worker import LoadSpec, StudentWorker
from .zygote import Zygote

__all__ = ["Isolation", "Limits", "LoadSpec", "Sandbox", "StudentWorker", "choose"]


class Sandbox:
    """A zygote that is restarted when it dies, and the uid its children run as. One per grading slot."""

    def __init__(self, isolation: Isolation, *, preload: list[str], device: str = "cpu", threads: int = 1,
                 slot: int = 0, warm_optimizer: bool | None = None, tmp_mb: int = 256,
                 trusted: bool = False, hide: Sequence[str] = ()) -> None:
        """``hide``: packages the worker never loads and, under bubblewrap, cannot see (a1's torch)."""
        self.isolation = isolation
        self.options = dict(
            preload=preload,
            hide=tuple(hide),
            device=device,
            threads=threads,
            warm_optimizer="torch" in preload if warm_optimizer is None else warm_optimizer,
            tmp_mb=tmp_mb,
        )
        # Root only keeps RLIMIT_NPROC and signal isolation if children move to their own uid, which
        # needs the bubblewrap mount layout (the interpreter may live in a root-only directory).
        dropping = not trusted and isolation.kind == "bubblewrap" and os.geteuid() == 0
        self.uid = SANDBOX_UID_BASE + slot if dropping else None
        self._zygote: Zygote | None = None

    def start(self) -> None:
        """Begin starting the zygote in the background; the first :meth:`zygote` call waits for it."""
        if self._zygote is None or not self._zygote.alive:
            if self._zygote is not None:
                self._zygote.close()
            self._zygote = Zygote(self.isolation, **self.options)
            self._zygote.start()

    def zygote(self) -> Zygote:
        self.start()
        assert self._zygote is not None
        self._zygote.wait_ready()
        return self._zygote

    def worker(self, spec: LoadSpec, limits: Limits) -> StudentWorker:
        return StudentWorker(self, spec, limits, uid=self.uid)

    def close(self) -> None:
        if self._zygote is not None:
            self._zygote.close()
            self._zygote = None
