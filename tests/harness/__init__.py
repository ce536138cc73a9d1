"""Throwaway PostgreSQL, Redis, Kafka, S3 (SeaweedFS) and TURN (coturn) servers for tests and
benchmarks: one module per server; ``process`` for what they share (spawning, readiness, stopping,
runtime dirs, log tails), ``ports`` for free loopback ports, ``errors`` for what they raise, and
``plugin`` for the pytest fixtures (registered in tests/conftest.py). ``test_services`` checks
that each fixture serves real traffic.

The start/stop logic lives in plain context managers (``start_postgres``, ``start_redis``,
``start_kafka``, ``start_seaweedfs``, ``start_coturn``) so that scripts outside pytest, such as
benchmarks, can reuse it::

    with tempfile.TemporaryDirectory() as tmp, start_redis(Path(tmp)) as url:
        ...
"""
