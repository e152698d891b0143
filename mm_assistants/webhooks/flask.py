"""A Flask blueprint that receives MultiMail webhooks (needs ``flask`` installed).

Example::

    from flask import Flask
    from mm_assistants.webhooks import WebhookReceiver
    from mm_assistants.webhooks.flask import webhook_blueprint

    app = Flask(__name__)
    receiver = WebhookReceiver(os.environ["MULTIMAIL_WEBHOOK_SECRET"], hub=hub, router=router)
    app.register_blueprint(webhook_blueprint(receiver))   # POST /multimail/webhooks

The view verifies and parses the delivery and answers at once (see
`mm_assistants.webhooks.http`); the event is handled afterwards in a small thread pool the
blueprint owns (or the ``executor`` you pass).
"""

from __future__ import annotations

from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from flask import Blueprint, Response, jsonify, request

from mm_assistants.webhooks.http import DEFAULT_PATH, accept_answer, refused_size, too_large


def webhook_blueprint(
    receiver: Any,
    *,
    path: str = DEFAULT_PATH,
    name: str = "multimail_webhooks",
    executor: Executor | None = None,
) -> Blueprint:
    """A blueprint with one ``POST path`` view fed to ``receiver`` (a `WebhookReceiver`)."""
    blueprint = Blueprint(name, __name__)
    pool = executor if executor is not None else ThreadPoolExecutor(4, "mm-webhook")

    @blueprint.post(path)
    def multimail_webhook() -> tuple[Response, int]:
        headers = dict(request.headers)
        answer = too_large(headers, receiver.max_body)
        if answer is None:
            # Read one byte past the cap: enough to know it is too large, no more.
            body = request.stream.read(receiver.max_body + 1)
            if len(body) > receiver.max_body:
                answer = refused_size(receiver.max_body)
            else:
                answer = accept_answer(receiver, body, headers)
        if answer.event is not None:
            pool.submit(receiver.handle, answer.event)
        return jsonify(answer.body), answer.status

    blueprint.executor = pool  # type: ignore[attr-defined]  # so tests and shutdown reach it
    return blueprint
