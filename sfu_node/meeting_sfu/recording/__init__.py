"""The recording wing: from a room's published tracks to one video, in four steps.

1. Capture, on the media node (``node``, ``recorder``, ``capture``): on ``recording.started``
   a ``TrackRecorder`` takes a copy of every track's packets, as they came, into an append-only
   capture file; nothing is parsed on the forwarding path.
2. Saved: on ``recording.stopped`` the node uploads the captures and the timeline (who
   published what, when: ``meeting_shared.services.recordings.Timeline``) and the recording
   becomes ``saved``; after a crash the node stores what its disk kept when it starts again.
3. Mixing, in the mixing worker (``mixing``, any process): it claims a saved recording,
   replays each capture into a Matroska file without re-encoding (``remux``, depacketizing
   with ``meeting_sfu.media.depacketize`` as the live taps do), and renders one MP4 with
   ffmpeg (``mixer``: ``layout`` decides the tiles, ``probe`` runs the tools).
4. Ready: the video, its thumbnail and captions are stored; old recordings expire.

Every read and write of a recording goes through ``RecordingService``; ``RecordedTrack`` is the
one model of a recorded track, from the node's capture to the mixer's layout.
"""
