"""Conversation on its own: every transition of its table reached through its public steps, the invariants
(UNDERSTANDING exactly while a request is in flight, ANSWERING exactly while a turn is on the device), and the steps
the table refuses."""
from __future__ import annotations

import pytest

from core.protocol import messages as m
from core.session.conversation import TRANSITIONS, Conversation, ConversationState, ConversationStep

S, T = ConversationState, ConversationStep


def reach(state: ConversationState) -> Conversation:
    conv = Conversation(now=0.0)
    if state is S.AWAITING_HELLO:
        return conv
    if state is S.CLOSED:
        conv.close("test")
        return conv
    conv.hello()
    if state is S.LISTENING:
        conv.listening(m.ListenMode.AUTO)
    elif state is S.UNDERSTANDING:
        conv.heard("play a song", 1.0)
    elif state is S.ANSWERING:
        conv.answer(tracks=True)
    assert conv.state is state
    return conv


def step(conv: ConversationState | Conversation, what: ConversationStep) -> None:
    assert isinstance(conv, Conversation)
    match what:
        case T.HELLO:
            if conv.turn is not None:
                conv.end_turn("replaced")          # the core cancels what is in flight before a new hello
            conv.drop_request("replaced")
            conv.hello()
        case T.LISTEN:
            conv.listening(m.ListenMode.MANUAL)
        case T.REQUEST:
            if conv.turn is not None:
                conv.end_turn("a new request")     # the core cancels the turn before a request
            conv.drop_request("superseded")
            conv.heard("tell me a story", 2.0)
        case T.ANSWER:
            if conv.turn is not None:
                conv.end_turn("superseded")
            conv.answer(tracks=False, request=conv.request)
        case T.DONE:
            if conv.state is S.UNDERSTANDING:
                conv.drop_request("answered")
            elif conv.state is S.ANSWERING:
                conv.end_turn("turn done")
            else:
                conv.listen_over()
        case T.GOODBYE:
            conv.goodbye("test")
        case T.CLOSE:
            conv.close("test")


@pytest.mark.parametrize(("state", "what"), sorted(TRANSITIONS, key=str))
def test_every_transition_of_the_table(state: ConversationState, what: ConversationStep) -> None:
    conv = reach(state)
    step(conv, what)
    assert conv.state is TRANSITIONS[(state, what)]
    assert (conv.request is not None) == (conv.state is S.UNDERSTANDING)
    assert (conv.turn is not None) == (conv.state is S.ANSWERING)


@pytest.mark.parametrize(("state", "what"), [
    (S.AWAITING_HELLO, T.LISTEN), (S.AWAITING_HELLO, T.DONE), (S.IDLE, T.DONE), (S.CLOSED, T.HELLO),
    (S.CLOSED, T.GOODBYE), (S.AWAITING_HELLO, T.GOODBYE)])
def test_steps_the_table_refuses_change_nothing(state: ConversationState, what: ConversationStep) -> None:
    conv = reach(state)
    assert not conv.may(what)
    step(conv, what)
    assert conv.state is state


def test_a_listen_mode_is_kept_and_a_second_listen_start_stays_listening() -> None:
    conv = reach(S.LISTENING)
    conv.listening(m.ListenMode.REALTIME)
    assert conv.state is S.LISTENING and conv.listen_mode is m.ListenMode.REALTIME
    conv.heard("what is this", 3.0)
    conv.listening(None)                              # a listen start while answering a request changes nothing
    assert conv.state is S.UNDERSTANDING and conv.listen_mode is m.ListenMode.REALTIME
