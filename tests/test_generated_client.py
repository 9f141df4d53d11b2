"""A whole day of the desk driven only through the Python client that openapi-python-client
generates from /openapi.json (as `make client` does): create a customer, a contract and a
ticket, take it in charge, resolve it, read the SLA statement and the billing report; and a
conversation: a question, the customer's answer by email, a note, an owner, one last reply."""

import importlib
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import ADMIN_TOKEN, LiveServer
from tests.processes import SPORTELLO
from tests.routers.test_inbound import eml, post_mime

GENERATOR = str(Path(sys.executable).parent / "openapi-python-client")


@pytest.fixture(scope="session")
def sportello_client(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The client, generated now from the app's OpenAPI document (never a stale copy)."""
    root = tmp_path_factory.mktemp("client")
    document = root / "openapi.json"
    document.write_text(
        subprocess.run([SPORTELLO, "openapi"], capture_output=True, text=True, check=True).stdout
    )
    generated = subprocess.run(
        [
            GENERATOR,
            "generate",
            "--meta",
            "none",
            "--path",
            str(document),
            "--output-path",
            str(root / "sportello_client"),
        ],
        capture_output=True,
        text=True,
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    # Every schema became a model: nothing was dropped for being unreadable.
    assert "Unable to process schema" not in generated.stdout + generated.stderr
    sys.path.insert(0, str(root))
    try:
        return importlib.import_module("sportello_client")
    finally:
        sys.path.remove(str(root))


def test_a_day_at_the_desk_through_the_generated_client(
    sportello_client, live_server: LiveServer, db
):
    client_module = sportello_client
    api = importlib.import_module("sportello_client.api")
    models = importlib.import_module("sportello_client.models")

    def call(tag: str, operation: str, **arguments):
        module = importlib.import_module(f"{api.__name__}.{tag}.{tag}_{operation}")
        return module.sync(client=client, **arguments)

    client = client_module.AuthenticatedClient(base_url=live_server.base_url, token=ADMIN_TOKEN)
    this_year = datetime.now(ZoneInfo("Europe/Rome")).date().replace(month=1, day=1)
    with client:
        customer = call(
            "customers",
            "create",
            body=models.CustomerCreate(name="Rossi Srl", email_domains=["rossi.it"]),
        )
        assert isinstance(customer, models.CustomerRead) and customer.language == models.Language.IT
        contract = call(
            "contracts",
            "create",
            body=models.ContractCreate(
                customer_id=customer.id,
                code="ASS-2026-001",
                starts_on=this_year,
                annual_fee="1200.00",
            ),
        )
        # R1: a year by default (this one: the day is received now).
        assert isinstance(contract, models.ContractRead)
        assert contract.ends_on == this_year.replace(month=12, day=31)

        received = datetime.now(UTC).replace(microsecond=0)
        month = received.astimezone(ZoneInfo("Europe/Rome")).strftime("%Y-%m")
        ticket = call(
            "tickets",
            "create",
            body=models.TicketCreate(
                channel=models.Channel.EMAIL,
                from_email="mario@rossi.it",
                subject="Sito lento",
                body="Il sito è lento.",
                received_at=received,
            ),
        )
        assert isinstance(ticket, models.TicketRead)
        assert ticket.contract_id == contract.id
        assert ticket.sla.take_charge_due_at > received  # 4 business hours ahead (R9)

        ref = str(ticket.id)
        taken = call(
            "tickets",
            "take_charge",
            ticket_ref=ref,
            body=models.TakeChargeIn(note="Guardo subito."),
        )
        assert taken.status == models.Status.TAKEN_IN_CHARGE
        resolved = call(
            "tickets",
            "resolve",
            ticket_ref=ref,
            body=models.ResolveIn(
                delivery_mode=models.DeliveryMode.ONLINE,
                resolution="Cache svuotata.",
            ),
        )
        assert resolved.status == models.Status.RESOLVED

        statement = call("reports", "sla_report", month=month)
        assert isinstance(statement, models.SlaStatement)
        (entry,) = [c for c in statement.contracts if c.contract_id == contract.id]
        assert (entry.received, entry.taken_in_charge, entry.within_target) == (1, 1, 1)
        assert entry.compliance.percent == 100

        billing = call("reports", "billing_report", month=month)
        assert isinstance(billing, models.BillingReport)
        assert billing.lines == []  # a covered request under contract bills nothing


def test_a_conversation_through_the_generated_client(sportello_client, api, db):
    """A request arrives by email; an agent asks a question, the customer answers by email, a
    note is left, the ticket is assigned, then taken in charge and resolved with one reply.
    Every staff call goes through the generated client; the customer only writes email."""
    client_module = sportello_client
    api_package = importlib.import_module("sportello_client.api")
    models = importlib.import_module("sportello_client.models")

    def call(client, tag: str, operation: str, **arguments):
        module = importlib.import_module(f"{api_package.__name__}.{tag}.{tag}_{operation}")
        return module.sync(client=client, **arguments)

    def customer_writes(**headers: str):
        raw = eml(subject=headers.pop("subject", "Sito lento"), headers=tuple(headers.items()))
        response = post_mime(api, raw)
        assert response.status_code == 200, response.text
        return response.json()["ticket_id"]

    admin = client_module.AuthenticatedClient(base_url=api.base_url, token=ADMIN_TOKEN)
    with admin:
        rossi = call(
            admin,
            "customers",
            "create",
            body=models.CustomerCreate(name="Rossi", email_domains=["rossi.it"]),
        )
        call(  # an annual contract in force: the work is covered, no consent to ask (R1, P4)
            admin,
            "contracts",
            "create",
            body=models.ContractCreate(
                customer_id=rossi.id,
                code="ASS-ROSSI",
                starts_on=date.today() - timedelta(days=30),
                annual_fee="1200.00",
            ),
        )
        marco = call(
            admin,
            "staff",
            "create",
            body=models.StaffCreate(
                name="Marco Bianchi", email="marco@agency.example", role=models.Role.AGENT
            ),
        )
        issued = call(admin, "staff", "create_token", body=models.TokenCreate(staff_id=marco.id))
    agent = client_module.AuthenticatedClient(base_url=api.base_url, token=issued.token)

    ticket_id = customer_writes()
    ref = str(ticket_id)
    with agent:
        me = call(agent, "staff", "me")
        assert me.staff.id == marco.id
        question = call(
            agent,
            "tickets",
            "reply",
            ticket_ref=ref,
            body=models.ReplyIn(text="Quale pagina mostra l'errore?"),
        )
        assert (
            isinstance(question, models.MessageRead) and question.kind == models.MessageKind.REPLY
        )
        assert question.author.name == "Marco Bianchi"

        answer = customer_writes(
            subject="Re: Sito lento",
            **{"In-Reply-To": f"<{question.message_id}>", "References": f"<{question.message_id}>"},
        )
        assert answer == ticket_id  # the answer joined the ticket

        note = call(
            agent, "tickets", "add_note", ticket_ref=ref, body=models.NoteIn(text="Forse è PHP.")
        )
        assert note.kind == models.MessageKind.NOTE
        assigned = call(
            agent, "tickets", "assign", ticket_ref=ref, body=models.AssignIn(assignee_id=marco.id)
        )
        assert assigned.assignee_id == marco.id
        done = call(
            agent,
            "tickets",
            "reply",
            ticket_ref=ref,
            body=models.ReplyIn(
                text="Risolto: era la cache.",
                take_charge=True,
                resolve=True,
                resolution="Cache svuotata.",
                delivery_mode=models.DeliveryMode.REMOTE,
            ),
        )
        assert done.kind == models.MessageKind.REPLY

        ticket = call(agent, "tickets", "get", ticket_ref=ref)
        assert ticket.status == models.Status.RESOLVED and ticket.assignee_id == marco.id
        assert ticket.taken_in_charge_at is not None
        conversation = call(agent, "tickets", "messages", ticket_ref=ref)
        kinds = [m.kind.value for m in conversation.items]
        assert kinds == ["inbound", "automatic", "reply", "inbound", "note", "reply"]
