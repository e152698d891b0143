"""The sender filter of ``check_inbox`` and ``wait_for_email``, made exact for whole
addresses (pure).

MultiMail matches ``sender`` as a part of the From address, in any case: ``ana`` or
``@customer.example`` finds ana@customer.example, which is what a model searching for a
person wants. A model told "only act on mail from ana@customer.example" wants the
opposite: ``banana@customer.example`` and ``ana@customer.example.evil.test`` also contain
that text, and a look-alike sender is how an attacker gets a message acted on. So when the
filter is a whole address (``local@domain.tld``), emails whose sender is not exactly that
address (case aside; ``Ana <ana@…>`` reads as ``ana@…``) are dropped from the listing, and
the output says how many and why. A part of an address (no ``@``, ``@domain`` alone, or a
domain without a dot) keeps MultiMail's partial match.

For ``wait_for_email`` the dropping happens on each poll, before the loop decides it found
something (`mm_assistants.dispatch.multistep_tools`), so a look-alike does not end the
wait. `sift_listing` serves ``check_inbox`` once its answer is in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from email.utils import parseaddr
from typing import Any

#: The fields this module writes into a listing (``..._count`` is safe to framing by name;
#: the note is the library's own text, listed in `mm_assistants.dispatch.shaping`).
COUNT_FIELD = "sender_mismatch_count"
NOTE_FIELD = "sender_filter_note"
NOTE = (
    "{count} listed email(s) were left out: their sender only contains {address!r} "
    "(MultiMail's sender filter matches any address containing the text) and is not "
    "exactly that address. A whole address matches exactly; to list every sender "
    "containing some text, give only part of an address (a name, or '@example.com')."
)
#: What a listing's emails become: the ones kept and the fields to add to the answer.
Sift = Callable[[list[Any]], tuple[list[Any], dict[str, Any]]]


def exact_address(sender: Any) -> str | None:
    """The bare, lower-cased address in ``sender`` when it is a whole one
    (``ana@customer.example``, ``Ana <ana@customer.example>``); ``None`` for a part of one
    (``ana``, ``@customer.example``, ``ana@``, ``ana@customer``), which MultiMail matches
    partially. Used alike for the filter and for each email's From."""
    if not isinstance(sender, str):
        return None
    _, address = parseaddr(sender.strip())
    local, at, domain = address.strip().lower().rpartition("@")
    # a domain without a dot ("ana@customer") is a prefix being typed, not a mail domain
    if not (at and local and "." in domain.strip(".")):
        return None
    return f"{local}@{domain}"


def sifter(address: str | None) -> Sift:
    """What an exact filter on ``address`` does to a listing's emails (``None``: nothing)."""

    def sift(emails: list[Any]) -> tuple[list[Any], dict[str, Any]]:
        if address is None:
            return emails, {}
        kept = [
            e for e in emails if isinstance(e, dict) and exact_address(e.get("from")) == address
        ]
        dropped = len(emails) - len(kept)
        if not dropped:
            return kept, {}
        note = NOTE.format(count=dropped, address=address)
        return kept, {COUNT_FIELD: dropped, NOTE_FIELD: note}

    return sift


#: The sift of a listing without an exact sender filter: every email counts.
KEEP_ALL: Sift = sifter(None)


def request_sifter(params: Mapping[str, Any]) -> Sift:
    """The `sifter` for a listing request's query (its ``sender``, as MultiMail gets it)."""
    return sifter(exact_address(params.get("sender")))


def sift_listing(tool: str, params: Mapping[str, Any], data: Any) -> Any:
    """``data`` (a ``check_inbox`` answer; any other tool's is returned as is) with the
    emails an exact sender filter does not match left out and counted. Fields of the
    library's own names that the server sent are dropped, so the note the model reads is
    always this library's. (``wait_for_email`` sifts each poll instead.)"""
    if tool != "check_inbox" or not isinstance(data, dict):
        return data
    data = {k: v for k, v in data.items() if k not in (COUNT_FIELD, NOTE_FIELD)}
    emails = data.get("emails")
    if not isinstance(emails, list):
        return data
    kept, extra = request_sifter(params)(emails)
    return {**data, "emails": kept, **extra}
