"""The RabbitMQ adapter (aio-pika): one process's actors joined to remote ones.

``RemoteRef`` has ``LocalRef``'s interface (and builds envelopes as a local send does), so
the domain cannot tell a remote actor from a local one. The bridge knows no domain package;
``chiffon.assembly.broker`` builds one from ``Settings`` for an orchestrator or an agent
process. The wire format is described in ``docs/protocol.md``.
"""
