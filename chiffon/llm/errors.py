"""The model path's errors, one class per condition.

Each names the model (its LiteLLM name, never its key) and says why in one sentence. The
router fails over from the local model to the external one on ``ModelUnreachable`` and
``ModelRefused``; ``BudgetExceeded`` and ``NoModelConfigured`` end the attempt.
"""

from __future__ import annotations

from chiffon.errors import ChiffonError


class ModelUnreachable(ChiffonError):
    """Raised by ``LLMClient.complete`` when the model's server could not answer: the
    connection was refused or dropped, no answer came within the timeout, or it kept answering
    5xx (or 429, too busy) after LiteLLM's own retries. The same call may succeed later."""

    code = "model_unreachable"
    retryable = True

    def __init__(self, model: str, reason: str) -> None:
        super().__init__(f"model {model} is unreachable: {reason}")
        self.model = model
        self.reason = reason


class ModelRefused(ChiffonError):
    """Raised by ``LLMClient.complete`` when the model's server answered the request with a
    4xx other than 429: a bad key, an unknown model name (a model Ollama has not pulled), a
    prompt longer than the context window, a parameter the server rejects. The same call will
    fail again until the configuration or the request changes."""

    code = "model_refused"

    def __init__(self, model: str, reason: str, status: int | None = None) -> None:
        shown = f" ({status})" if status is not None else ""
        super().__init__(f"model {model} refused the request{shown}: {reason}")
        self.model = model
        self.reason = reason
        self.status = status


class BudgetExceeded(ChiffonError):
    """Raised before a model call, which is then not made, when the run's recorded spending
    plus a conservative estimate of the call would pass the run's budget."""

    code = "budget_exceeded"

    def __init__(
        self, model: str, spent_usd: float, estimate_usd: float, budget_usd: float
    ) -> None:
        super().__init__(
            f"the run has spent ${spent_usd:.4f} of its ${budget_usd:.2f} budget, and a call to "
            f"{model} may cost up to ${estimate_usd:.4f} more: not calling it"
        )
        self.model = model
        self.spent_usd = spent_usd
        self.estimate_usd = estimate_usd
        self.budget_usd = budget_usd


class NoModelConfigured(ChiffonError):
    """Raised when a model call is asked of a router that has neither a local nor an external
    model configured (``CHIFFON_LLM_LOCAL_MODEL``, ``CHIFFON_LLM_EXTERNAL_MODEL``): the caller
    should use the catalog planner instead."""

    code = "no_model_configured"

    def __init__(self) -> None:
        super().__init__(
            "no model is configured: set CHIFFON_LLM_LOCAL_MODEL or CHIFFON_LLM_EXTERNAL_MODEL, "
            "or use the catalog planner"
        )
