"""Running untrusted submissions: a pre-started worker (zygote) per grading slot, one child per submission."""

from __future__ import annotations

import os
from collections.abc import Sequence

from grader.errors import SandboxError
from grader.sandbox import cgroups
from grader.sandbox.cgroups import SandboxCgroup
from grader.sandbox.isolation import Isolation, choose, drops_to_own_uid
from grader.sandbox.leases import Lease, NoLeaseLeft, claim
from grader.sandbox.limits import Limits
from grader.sandbox.submission_process import LoadSpec, SubmissionProcess
from grader.sandbox.zygote_handle import WorkerSetup, ZygoteHandle

__all__ = ["Isolation", "Limits", "LoadSpec", "Sandbox", "SubmissionProcess", "choose"]


class Sandbox:
    """A zygote that is restarted when it dies, and what its children get of their own: a uid and a
    cgroup no other sandbox on this host holds (by lease), and namespaces per child. One per grading
    slot and worker profile, and one for the verifier."""

    def __init__(
        self,
        isolation: Isolation,
        *,
        preload: list[str],
        device: str = "cpu",
        threads: int = 1,
        slot: int = 0,
        warm_optimizer: bool | None = None,
        tmp_mb: int = 256,
        trusted: bool = False,
        hide: Sequence[str] = (),
    ) -> None:
        """``hide``: packages the worker never loads and, under bubblewrap, cannot see (a1's torch).
        ``slot``: where the search for a free lease starts (any free one is taken). ``trusted``: the
        reference worker, which runs instructor code only and gets no box."""
        self.isolation = isolation
        self.setup = WorkerSetup(
            preload=tuple(preload),
            hide=tuple(hide),
            device=device,
            threads=threads,
            warm_optimizer="torch" in preload if warm_optimizer is None else warm_optimizer,
            tmp_mb=tmp_mb,
        )
        self.trusted = trusted
        self.slot = slot
        # Root only keeps RLIMIT_NPROC, signal isolation and root-only files if children move to their
        # own uid: under bubblewrap, or without it where that uid can load the interpreter (a trial).
        self._dropping = not trusted and drops_to_own_uid(isolation.kind)
        self._lease: Lease | None = None
        self._cgroup: SandboxCgroup | None = None
        self.cgroup_problem = ""  # why this sandbox's submissions have no cgroup budget ("" if they have)
        self._zygote: ZygoteHandle | None = None

    @property
    def uid(self) -> int | None:
        """The uid this sandbox's children run as (None: they keep the grader's, not being root)."""
        return self._lease.uid if self._lease is not None and self._dropping else None

    def start(self) -> None:
        """Begin starting the zygote in the background; the first :meth:`zygote` call waits for it."""
        if self._zygote is None or not self._zygote.alive:
            if self._zygote is not None:
                self._zygote.close()
            self._claim()
            sandboxed = self.isolation.kind == "bubblewrap"
            box = (
                None
                if self.trusted
                else {
                    "namespaces": True,
                    "cgroups": self._cgroup.for_zygote(sandboxed) if self._cgroup else None,
                    "unmount": self._cgroup.mount_points(sandboxed) if self._cgroup else [],
                }
            )
            binds = self._cgroup.bind_args() if self._cgroup and sandboxed else []
            self._zygote = ZygoteHandle(self.isolation, self.setup, uid=self.uid, box=box, bwrap_extra=binds)
            self._zygote.start()

    def _claim(self) -> None:
        """This sandbox's lease (its uid) and cgroup, held until :meth:`close`."""
        if self.trusted or self._lease is not None:
            return
        try:
            self._lease = claim(self.slot)
        except (NoLeaseLeft, OSError) as exc:
            raise SandboxError(f"no sandbox uid is free on this host: {exc}") from None
        hierarchy, self.cgroup_problem = cgroups.find()
        if hierarchy is not None:
            owner = "" if os.geteuid() == 0 else f"{os.geteuid()}-"
            try:
                self._cgroup = SandboxCgroup(hierarchy, f"rnn-autograder-{owner}{self._lease.number}")
            except OSError as exc:
                self.cgroup_problem = f"the sandbox's cgroup could not be created ({exc})"

    def zygote(self) -> ZygoteHandle:
        self.start()
        assert self._zygote is not None
        self._zygote.wait_ready()
        return self._zygote

    def worker(self, spec: LoadSpec, limits: Limits) -> SubmissionProcess:
        return SubmissionProcess(self, spec, limits)

    def close(self) -> None:
        if self._zygote is not None:
            self._zygote.close()
            self._zygote = None
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None
        if self._lease is not None:
            self._lease.release()
            self._lease = None
