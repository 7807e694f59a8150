"""`places`: how many files are read at once, and the end of the waiting when a push is interrupted."""

from __future__ import annotations

import threading

import pytest

from ludwig_hub_export.places import Places, Stopped


def _taker(place) -> tuple[threading.Thread, threading.Event, list]:
    took, stopped = threading.Event(), []

    def run() -> None:
        try:
            place.take()
            took.set()
        except Stopped:
            stopped.append(True)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, took, stopped


def test_a_place_is_taken_once_and_given_back_once():
    places = Places(1)
    first, second = places.place(), places.place()
    first.take()
    first.take()  # taking it again does not wait for a second place
    thread, took, _ = _taker(second)
    assert not took.wait(0.2)  # the one place is held
    first.release()
    assert took.wait(5)
    first.release()  # given back already: no second place appears
    third = places.place()
    thread, took, _ = _taker(third)
    assert not took.wait(0.2)
    second.release()
    assert took.wait(5)


def test_stop_ends_the_waiting_and_a_retry_after_it_starts_nothing():
    places = Places(1)
    reading, waiting = places.place(), places.place()
    reading.take()
    thread, took, stopped = _taker(waiting)
    places.stop()
    reading.release()  # the interrupted read gives its place back
    thread.join(5)
    assert stopped and not took.is_set()
    again = places.place()
    with pytest.raises(Stopped):
        again.take()  # the place was free, but the push is over
    other = Places(1)
    held = other.place()
    held.take()
    other.stop()
    with pytest.raises(Stopped):
        held.take()  # held already: a retry of its read starts nothing either
