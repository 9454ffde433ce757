"""The TUI's session lock: the long walk lends it out between chunks of leaves, so a table load (the
tree, a go-to-VA) waits for one chunk of a huge walk, not for all of it; and the walk hears each chunk."""

from __future__ import annotations

import threading
import time

import numpy as np
from synth import SynthDirectMap

from pmoview.arch import Root
from pmoview.space import AddressSpace
from pmoview.tui.session import LendingLock


def test_a_waiting_thread_gets_the_lock_while_the_holder_lends_it() -> None:
    lock = LendingLock()
    holding, other_done = threading.Event(), threading.Event()
    order: list[str] = []

    def other() -> None:
        holding.wait()
        with lock:
            order.append("other")
        other_done.set()

    t = threading.Thread(target=other)
    t.start()
    with lock, lock:  # held twice (re-entrant): lending releases it all the same
        holding.set()
        for _ in range(2000):  # steps of a long job; the other thread gets in at the first lend after it waits
            time.sleep(0.001)  # a step's work (the walk of one chunk)
            lock.lend(timeout=0.01)
            if other_done.is_set():
                break
        order.append("holder done")
    t.join()
    assert order == ["other", "holder done"]


def test_lend_without_waiters_keeps_the_lock() -> None:
    lock = LendingLock()
    with lock:
        lock.lend()
        got = []
        t = threading.Thread(target=lambda: got.append(lock._lock.acquire(blocking=False)))
        t.start()
        t.join()
        assert got == [False]  # still held by this thread after lend


def test_every_walk_calls_between_chunks_for_each_chunk_and_gives_the_same_mappings() -> None:
    mem = SynthDirectMap(gib=1)
    root = Root(arch="x86_64", mode="x86_64-4level", table=mem.PML4, source="synthetic")
    seen: list[int] = []
    space = AddressSpace(mem, root)
    space.between_chunks = lambda chunk: seen.append(len(chunk))
    cols = space.columns()
    plain = AddressSpace(mem, root).columns()
    assert len(seen) > 1 and sum(seen) == 262_144  # 1 GiB of 4 KiB leaves, heard chunk by chunk
    assert np.array_equal(cols.va_start, plain.va_start) and np.array_equal(cols.count, plain.count)
    seen.clear()
    assert sum(len(b) for b in space.mapping_batches()) == 1 and sum(seen) == 262_144  # a streamed walk too


def test_lend_by_a_thread_that_does_not_hold_the_lock_does_nothing() -> None:
    lock = LendingLock()
    lock.lend()  # held by nobody
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with lock:
            held.set()
            release.wait()

    t = threading.Thread(target=holder)
    t.start()
    held.wait()
    lock.lend()  # held by the other thread: no wait, no error
    release.set()
    t.join()
