"""The outbox sweep: the scheduled run that sends what waits outside any publish (a subscriber's
confirmation, a message due for a retry), over the provider sandbox."""

from __future__ import annotations

from sqlmodel import select

from channels.sandbox.runner import SandboxHandle
from clarion import store
from clarion.kinds import Channel, DeliveryState
from clarion.models import Delivery
from clarion.outbox.notices import stage_notice
from clarion.subscriptions.notices import HELP
from flows.delivery import outbox_sweep


def test_a_staged_notice_goes_out_with_the_next_sweep(sandbox: SandboxHandle) -> None:
    engine = store.get_engine()
    with store.session_scope(engine) as session:
        notice = stage_notice(
            session=session,
            kind=HELP,
            channel=Channel.SMS,
            locale="en",
            address="+4915112345678",
            about="test",
        )
        notice_id = notice.id
    before = len(sandbox.inbox("sms"))
    swept = outbox_sweep()
    with store.session_scope(engine) as session:
        row = session.exec(select(Delivery).where(Delivery.notice_id == notice_id)).one()
        assert swept["accepted"] == 1, (row.error_code, row.error_detail)
    texts = sandbox.inbox("sms")[before:]
    assert len(texts) == 1 and "STOP" in str(texts[0].as_json())
    with store.session_scope(engine) as session:
        delivery = session.exec(select(Delivery).where(Delivery.notice_id == notice_id)).one()
        assert delivery.state is DeliveryState.ACCEPTED
    nothing = {"accepted": 0, "failed": 0, "retried": 0, "early_events": 0, "fallbacks": 0}
    assert outbox_sweep() == nothing  # nothing due: it ends at once
