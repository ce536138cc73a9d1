"""Walk through the product over HTTP, as a newcomer would after `make run`.

    uv run python -m scripts.smoke [BASE_URL]      (default http://127.0.0.1:8800)

Registers a host and two guests, logs in, refreshes, creates meetings, invites, joins through
the lobby and with a password, uploads an image straight to storage (S3 or the embedded store,
whichever the server uses) and downloads it again. Exits non-zero at the first surprise.
"""

from __future__ import annotations

import base64
import io
import sys
import uuid
from typing import Any

import httpx
from PIL import Image

PASSWORD = "smoke-test password"


class SmokeFailure(AssertionError):
    pass


def expect(response: httpx.Response, status: int) -> Any:
    if response.status_code != status:
        raise SmokeFailure(
            f"{response.request.method} {response.request.url.path}: expected {status}, "
            f"got {response.status_code}: {response.text[:500]}"
        )
    if not response.content:
        return {}
    if not response.headers.get("content-type", "").endswith("json"):
        return response.content
    return response.json()


def step(message: str) -> None:
    print(f"  ok  {message}")


def sign_up(http: httpx.Client, role: str) -> httpx.Client:
    name = f"{role}_{uuid.uuid4().hex[:8]}"
    expect(
        http.post(
            "/api/v1/auth/register",
            json={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
        ),
        201,
    )
    credentials = {"login": name, "password": PASSWORD}
    tokens = expect(http.post("/api/v1/auth/login", json=credentials), 200)
    http.cookies.clear()
    refreshed = expect(
        http.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}), 200
    )
    http.cookies.clear()
    user = httpx.Client(base_url=str(http.base_url), timeout=30)
    user.headers["Authorization"] = f"Bearer {refreshed['access_token']}"
    user.headers["X-Smoke-User"] = refreshed["user"]["id"]
    return user


def png_bytes() -> bytes:
    image = Image.new("RGB", (640, 360))
    for x in range(640):
        for y in range(0, 360, 8):
            image.putpixel((x, y), (x % 256, y % 256, 128))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def ai_round_trip(client: httpx.Client, *, required: bool) -> None:
    """Speech synthesis back through speech recognition, when an AI node runs."""
    if client.get("/api/v1/ai/health").status_code != 200:
        if required:
            raise SmokeFailure("no AI node is ready (GET /api/v1/ai/health)")
        step("no AI node running: AI checks skipped (`meeting gpu-node`, or EMBEDDED_AI_NODE)")
        return
    sentence = "the quarterly review starts at nine"
    spoken = expect(client.post("/api/v1/ai/synthesis", json={"text": sentence}), 200)
    audio = base64.b64encode(spoken).decode()
    heard = expect(client.post("/api/v1/ai/asr", json={"audio": audio, "language": "en"}), 200)
    words = heard["text"].lower().strip(" .")
    if "quarterly review" not in words:
        raise SmokeFailure(f"speech came back as {heard['text']!r}")
    mood = expect(client.post("/api/v1/ai/emotion", json={"text": "This is wonderful"}), 200)
    assert mood["text"]["label"] == "positive"
    step(f"AI: spoke a sentence and heard it back ({heard['text']!r}); text emotion positive")


def run(base_url: str, *, require_ai: bool = False) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as anonymous:
        health = expect(anonymous.get("/health"), 200)
        step(f"health: {health['backends']}")
        host = sign_up(anonymous, "host")
        guest = sign_up(anonymous, "guest")
        late = sign_up(anonymous, "late")
        step("registered, logged in and refreshed three users")

        meeting = expect(
            host.post(
                "/api/v1/meetings",
                json={"title": "Smoke test", "settings": {"require_approval": True}},
            ),
            201,
        )
        mid = meeting["id"]
        invite = expect(host.post(f"/api/v1/meetings/{mid}/invites", json={"max_uses": 5}), 201)
        step(f"created a meeting with approval and an invite link {invite['url']}")

        joined = expect(host.post(f"/api/v1/meetings/{mid}/join", json={}), 200)
        step(f"host joined; signaling at {joined['signaling_url']}")
        waiting = expect(
            guest.post(f"/api/v1/meetings/{mid}/join", json={"invite_token": invite["token"]}), 202
        )
        assert waiting["status"] == "waiting"
        lobby = expect(host.get(f"/api/v1/meetings/{mid}/lobby"), 200)
        assert [entry["user"]["id"] for entry in lobby] == [guest.headers["X-Smoke-User"]]
        guest_id = guest.headers["X-Smoke-User"]
        expect(host.post(f"/api/v1/meetings/{mid}/lobby/{guest_id}/admit"), 204)
        admitted = expect(guest.post(f"/api/v1/meetings/{mid}/join", json={}), 200)
        assert admitted["join_token"]
        step("guest waited in the lobby, was admitted and joined")

        locked = expect(
            host.post("/api/v1/meetings", json={"title": "Locked", "password": "letmein"}), 201
        )
        refused = expect(late.post(f"/api/v1/meetings/{locked['id']}/join", json={}), 403)
        assert refused["code"] == "password_required"
        expect(
            late.post(f"/api/v1/meetings/{locked['id']}/join", json={"password": "letmein"}), 200
        )
        step("a password meeting refused a join without it and let the right password in")

        image = png_bytes()
        started = expect(
            host.post(
                "/api/v1/media/uploads",
                json={
                    "filename": "slide.png",
                    "content_type": "image/png",
                    "size": len(image),
                    "meeting_id": mid,
                },
            ),
            201,
        )
        target = started["upload"]
        uploaded = httpx.post(
            target["url"],
            data=target["fields"],
            files={"file": ("slide.png", image, "image/png")},
            timeout=60,
        )
        if uploaded.status_code not in (200, 201, 204):
            raise SmokeFailure(f"upload to storage failed: {uploaded.status_code} {uploaded.text}")
        media = expect(host.post(f"/api/v1/media/uploads/{started['media']['id']}/complete"), 200)
        assert (media["kind"], media["width"], media["height"]) == ("image", 640, 360)
        step(f"uploaded {len(image)} bytes straight to storage; ffprobe saw a 640x360 image")

        for who in (host, guest):
            redirect = expect(who.get(f"/api/v1/media/{media['id']}/download"), 307)
            assert redirect == {}
            location = who.get(f"/api/v1/media/{media['id']}/download").headers["location"]
            downloaded = httpx.get(location, timeout=60)
            if downloaded.content != image:
                raise SmokeFailure("the downloaded file differs from the upload")
        expect(late.get(f"/api/v1/media/{media['id']}/download"), 404)
        step("host and meeting member downloaded it byte-identical; an outsider got 404")

        ai_round_trip(host, required=require_ai)

        expect(host.post(f"/api/v1/meetings/{mid}/end"), 200)
        step("host ended the meeting for everyone")
        for client in (host, guest, late):
            client.close()


def main() -> None:
    base_url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8800"
    print(f"smoke test against {base_url}")
    try:
        run(base_url)
    except (SmokeFailure, AssertionError, httpx.HTTPError) as exc:
        print(f"FAILED: {exc}")
        raise SystemExit(1) from exc
    print("all good")


if __name__ == "__main__":
    main()
