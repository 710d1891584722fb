"""The policy engine: documents, validation, the compiled matcher, sources and the manager.

Modules, in the order data flows through them::

    document.parse_document(text)  ->  model.PolicyDocument       (text.py, values.py)
    compiler.compile_policy(doc)   ->  matcher.CompiledPolicy     (intervals.py: range tables)
    CompiledPolicy.decide(verdict.FlowFacts) -> verdict.Decision  (explain.py says why)
    manager.PolicyManager: sources.py (file, SSM/S3, memory) + store.py (last good on disk)

Importing this package is cheap on purpose (no boto3, no sockets): the lifecycle
Lambdas import it to validate documents. The package re-exports nothing.
"""
