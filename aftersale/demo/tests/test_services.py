import email
import json
from io import StringIO

from django.core.management import call_command
from rich.console import Console

from aftersale.demo.services import run_demo
from aftersale.flows.models import Enrollment


# One demo run for both halves of the promise: the demo is the suite's slowest setup
# (a year of real households backtested), so the report is read from the same run.
def test_the_demo_delivers_the_flow_to_real_households_and_the_report_command_reads_it(
    db, tmp_path
):
    outbox = tmp_path / "outbox"

    result = run_demo(console=Console(file=StringIO()), outbox=outbox, limit_households=10)

    assert result.backtest.enrolled == Enrollment.objects.count() > 0
    assert result.emails_captured == result.backtest.messages_delivered > 0
    first = email.message_from_bytes(sorted(outbox.glob("*.eml"))[0].read_bytes())
    assert first["To"].endswith("@example.com")
    assert {part.get_content_type() for part in first.walk()} >= {"text/plain", "text/html"}

    out = StringIO()
    call_command("report", "post-purchase-upsell", "--format", "json", stdout=out)

    report = json.loads(out.getvalue())
    assert report["started"] == Enrollment.objects.count()
    assert {"exited_pct", "completed_pct", "purchased_pct", "revenue"} <= report.keys()
    assert [s["type"] for s in report["steps"]] == [
        "delay",
        "email",
        "delay",
        "email",
        "delay",
        "email",
    ]
