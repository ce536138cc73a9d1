"""Binary objects: uploads, avatars, thumbnails and recordings."""

from meeting_shared.blobs.port import BlobInfo, BlobStore, UploadTarget

__all__ = ["BlobInfo", "BlobStore", "UploadTarget"]
