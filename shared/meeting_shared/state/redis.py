"""The production state store: Redis through ``redis.asyncio`` with one connection pool.

Every driver error that means "Redis cannot be reached" becomes ``Unavailable`` here, and the
timeouts are short so a dead Redis fails a request in about a second instead of hanging it.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar, cast

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from meeting_shared.errors import Unavailable
from meeting_shared.state.memory import check_rate, check_spend, check_ttl, units_left
from meeting_shared.state.port import RateDecision

_P = ParamSpec("_P")
_R = TypeVar("_R")

# The sliding log of MemoryStateStore.hit, run atomically: a sorted set of hit times in
# microseconds of the Redis server's clock (one clock for every process), refused hits unrecorded.
# ARGV: limit, window in microseconds, a member unique to this hit. Returns
# {allowed (0/1), remaining, retry_after in microseconds}. Calling TIME before a write needs
# effects replication: the default from Redis 5, the only mode from 7.
_HIT_SCRIPT = """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  return {1, limit - count - 1, 0}
end
local pivot = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
local retry = tonumber(pivot[2]) + window - now
if retry > window then
  retry = window
end
return {0, 0, retry}
"""

# MemoryStateStore.spend (GCRA) on the server's clock: the key holds the microsecond at which the
# budget is whole again. ARGV: microseconds one spend costs (amount * window / limit), window in
# microseconds. Returns {allowed (0/1), debt or retry_after in microseconds}. Times stay below
# 2^53, exact in Lua's doubles; "%.0f" keeps them whole when stored.
_SPEND_SCRIPT = """
local cost = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local whole_at = tonumber(redis.call('GET', KEYS[1]) or '0')
if whole_at < now then
  whole_at = now
end
local debt = whole_at + cost - now
if debt > window then
  return {0, debt - window}
end
redis.call('SET', KEYS[1], string.format('%.0f', now + debt), 'PX', math.ceil(debt / 1000))
return {1, debt}
"""

# Generational cache (see StateStore.cache_read). A nil in a Lua table ends it, so a missing value
# comes back as a one-element reply.
_CACHE_READ_SCRIPT = """
local generation = redis.call('HGET', KEYS[1], 'gen') or '0'
return {generation, redis.call('HGET', KEYS[1], generation .. ':' .. ARGV[1])}
"""
# ARGV: generation read, field, value, ttl in milliseconds.
_CACHE_WRITE_SCRIPT = """
local generation = redis.call('HGET', KEYS[1], 'gen') or '0'
if generation ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'gen', generation, generation .. ':' .. ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""
# ARGV: ttl in milliseconds. Every key moves on one generation and loses its values.
_CACHE_INVALIDATE_SCRIPT = """
for _, key in ipairs(KEYS) do
  local generation = tonumber(redis.call('HGET', key, 'gen') or '0') + 1
  redis.call('DEL', key)
  redis.call('HSET', key, 'gen', generation)
  redis.call('PEXPIRE', key, ARGV[1])
end
return #KEYS
"""


def _translated(
    method: Callable[_P, Awaitable[_R]],
) -> Callable[_P, Coroutine[Any, Any, _R]]:
    """Turn driver errors into the system's errors at this boundary."""

    @functools.wraps(method)
    async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return await method(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise Unavailable("The state store cannot be reached") from exc
        except ResponseError as exc:
            # Same error as MemoryStateStore for a key used as two kinds of value: a caller bug.
            if "WRONGTYPE" in str(exc):
                raise TypeError("key holds another kind of value") from exc
            raise

    return wrapper


def _ms(seconds: float) -> int:
    check_ttl(seconds)
    return max(1, round(seconds * 1000))


class RedisStateStore:
    """A ``StateStore`` shared by every process that points at the same Redis."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._client: Redis = Redis(connection_pool=pool)
        self._hit_script = self._client.register_script(_HIT_SCRIPT)
        self._spend_script = self._client.register_script(_SPEND_SCRIPT)
        self._cache_read_script = self._client.register_script(_CACHE_READ_SCRIPT)
        self._cache_write_script = self._client.register_script(_CACHE_WRITE_SCRIPT)
        self._cache_invalidate_script = self._client.register_script(_CACHE_INVALIDATE_SCRIPT)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        connect_timeout: float = 1.0,
        command_timeout: float = 2.0,
        max_connections: int = 64,
    ) -> RedisStateStore:
        """Build a store with its own pool; nothing connects until the first command."""
        # Blocking: under a burst, requests wait briefly for a connection instead of failing with
        # "too many connections" once max_connections are busy.
        pool = BlockingConnectionPool.from_url(
            url,
            timeout=command_timeout,
            decode_responses=True,
            socket_connect_timeout=connect_timeout,
            socket_timeout=command_timeout,
            max_connections=max_connections,
            health_check_interval=30,
            # One immediate retry covers a pooled connection that Redis closed while it sat idle.
            # Timeouts are not retried: that would double the wait on a Redis that is down.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        return cls(pool)

    @_translated
    async def cache_read(self, key: str, field: str) -> tuple[int, str | None]:
        reply = await self._cache_read_script(keys=[key], args=[field])
        return int(reply[0]), (reply[1] if len(reply) > 1 else None)

    @_translated
    async def cache_write(
        self, key: str, generation: int, field: str, value: str, ttl: float
    ) -> bool:
        written = await self._cache_write_script(
            keys=[key], args=[str(generation), field, value, _ms(ttl)]
        )
        return bool(written)

    @_translated
    async def cache_invalidate(self, keys: list[str], ttl: float) -> None:
        if keys:
            await self._cache_invalidate_script(keys=keys, args=[_ms(ttl)])

    @_translated
    async def get(self, key: str) -> str | None:
        return cast(str | None, await self._client.get(key))

    @_translated
    async def get_many(self, keys: list[str]) -> list[str | None]:
        if not keys:
            return []
        return cast(list[str | None], await self._client.mget(keys))

    @_translated
    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        await self._client.set(key, value, px=None if ttl is None else _ms(ttl))

    @_translated
    async def set_durable(self, key: str, value: str, ttl: float) -> None:
        # Redis itself outlives the processes; surviving a restart of Redis is its persistence
        # configuration's job (RDB snapshots or AOF).
        await self._client.set(key, value, px=_ms(ttl))

    @_translated
    async def set_if_absent(self, key: str, value: str, ttl: float | None = None) -> bool:
        px = None if ttl is None else _ms(ttl)
        return bool(await self._client.set(key, value, nx=True, px=px))

    @_translated
    async def delete(self, *keys: str) -> None:
        if keys:
            await self._client.delete(*keys)

    @_translated
    async def hit(self, key: str, limit: int, window: float) -> RateDecision:
        check_rate(limit, window)
        window_us = max(1, round(window * 1_000_000))
        # The member only has to be unique; the score carries the time.
        member = secrets.token_hex(8)
        allowed, remaining, retry_us = cast(
            list[int],
            await self._hit_script(keys=[key], args=[limit, window_us, member]),
        )
        return RateDecision(
            allowed=bool(allowed), remaining=remaining, retry_after=retry_us / 1_000_000
        )

    @_translated
    async def spend(self, key: str, amount: float, limit: int, window: float) -> RateDecision:
        check_spend(amount, limit, window)
        window_us = max(1, round(window * 1_000_000))
        cost_us = max(1, round(amount * window_us / limit))
        allowed, micros = cast(
            list[int], await self._spend_script(keys=[key], args=[cost_us, window_us])
        )
        if not allowed:
            return RateDecision(allowed=False, remaining=0, retry_after=micros / 1_000_000)
        remaining = units_left(micros / 1_000_000, limit, window)
        return RateDecision(allowed=True, remaining=remaining, retry_after=0.0)

    @_translated
    async def hash_set(self, key: str, field: str, value: str, ttl: float | None = None) -> None:
        if ttl is None:
            await self._client.hset(key, field, value)
            return
        px = _ms(ttl)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.hset(key, field, value)
            pipe.pexpire(key, px)
            await pipe.execute()

    @_translated
    async def hash_delete(self, key: str, field: str) -> None:
        await self._client.hdel(key, field)

    @_translated
    async def hash_get_all(self, key: str) -> dict[str, str]:
        return cast(dict[str, str], await self._client.hgetall(key))

    @_translated
    async def ping(self) -> None:
        await self._client.ping()

    async def aclose(self) -> None:
        await self._client.aclose()
        await self._pool.disconnect()
