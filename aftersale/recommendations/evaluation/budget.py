"""Running one method of the evaluation under a time and memory budget: in a forked
child process with an address-space limit and a deadline, so a method that would grow
without bound or run for hours is reported as skipped, never a killed evaluation."""

from __future__ import annotations

import multiprocessing
import resource
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

_MB = 2**20


@dataclass(frozen=True)
class Budget:
    """What one method may use: wall-clock seconds and memory beyond what the
    evaluation holds when it starts the method."""

    seconds: float = 120.0
    memory_mb: float = 3000.0


class OverBudget(Exception):
    """The method did not finish within its budget; the message is the reason shown."""


def run_within(
    *,
    work: Callable[[Callable[[str], None]], Any],
    budget: Budget,
    step: Callable[[str], None] = lambda _: None,
) -> Any:
    """`work(step)`'s result, computed in a forked child under `budget`. The child's
    `step` calls reach the parent's `step` as they happen. Raises OverBudget with the
    reason when the child runs out of time or memory or dies; an ordinary exception in
    `work` is raised again here as RuntimeError with its traceback."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(work, sender, _address_space() + budget.memory_mb))
    child.start()
    sender.close()
    deadline = time.monotonic() + budget.seconds
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not receiver.poll(left):
                raise OverBudget(f"over the time budget of {budget.seconds:.0f} s")
            try:
                kind, value = receiver.recv()
            except EOFError:
                child.join()
                raise OverBudget(_death(child.exitcode, budget)) from None
            if kind == "step":
                step(value)
            elif kind == "done":
                return value
            elif kind == "memory":
                raise OverBudget(f"over the memory budget of {budget.memory_mb:.0f} MB")
            else:
                raise RuntimeError(value)
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receiver.close()


def _child(
    work: Callable[[Callable[[str], None]], Any], sender: Connection, limit_mb: float
) -> None:
    limit = int(limit_mb * _MB)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        result = work(lambda text: sender.send(("step", text)))
    except MemoryError:
        sender.send(("memory", ""))
    except BaseException:  # everything goes back to the parent
        text = traceback.format_exc()
        sender.send(("memory" if "Unable to allocate" in text else "error", text))
    else:
        sender.send(("done", result))
    finally:
        sender.close()


def _address_space() -> float:
    """This process's virtual memory size in MB (the base a child's limit adds to)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _death(exitcode: int | None, budget: Budget) -> str:
    """Why a child that sent no result ended."""
    if exitcode is not None and exitcode < 0:
        return f"stopped by signal {-exitcode} (memory budget {budget.memory_mb:.0f} MB)"
    return f"ended with exit code {exitcode} before its result"
