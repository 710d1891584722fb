"""gwlbd's serverless lifecycle service.

Thin Lambda handlers (``lambdas.handlers``, one module per event source) parse an event
with Powertools and call the domain code (``launch``/``terminate`` steps of the lifecycle
workflow, ``health``, ``reconcile``, ``policy_publish``). The domain talks to AWS only
through :class:`lambdas.aws.LifecycleAws` (a boto3 adapter and an in-memory fake) and
keeps its records in :class:`lambdas.state.StateStore`.
"""
