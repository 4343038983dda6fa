"""Synthetic RGB-D rooms: a seeded stand-in for NYU Depth V2 when no NYU data is at hand."""

import numpy as np

from ._source import Frame, Split, check_index, check_split, make_frame

NYU_FOCAL_AT_640 = 518.86
"""The Kinect colour camera's focal length in pixels at 640 pixels wide (NYU's intrinsics)."""

_SPLIT_CODES: dict[str, int] = {"train": 0, "val": 1}
_DEFAULT_LENGTHS: dict[str, int] = {"train": 1000, "val": 200}


class SyntheticScenes:
    """Seeded indoor-like rooms seen by a pinhole camera, with exact per-pixel depth.

    Each frame is a box-shaped room (floor, ceiling, back, front and side walls) holding 1 to
    5 boxes (turned about the vertical), seen from a camera 1.0-1.6 m above the floor that
    looks slightly down and to a side, with NYU's field of view (focal length 518.86 px at
    640 px wide, square pixels). Rays are cast analytically (slab tests on the room and the
    boxes, the nearest hit wins), so depth is exact: the distance along the optical axis, in
    metres, positive everywhere. Colour is a per-surface base colour times a checker texture
    in world coordinates (whose perspective foreshortening is a depth cue), Lambertian
    shading from a ceiling light with distance falloff, and a little pixel noise.

    Frame `index` of `split` depends only on `(seed, split, index)`.

    Args:
      split: `"train"` or `"val"`; the two draw different rooms.
      num_frames: the number of frames; defaults to 1000 for train and 200 for val.
      resolution: `(height, width)` of every frame.
      seed: selects the family of rooms.
    """

    def __init__(
        self,
        split: Split = "train",
        *,
        num_frames: int | None = None,
        resolution: tuple[int, int] = (120, 160),
        seed: int = 0,
    ):
        self.split = check_split(split)
        self.num_frames = _DEFAULT_LENGTHS[self.split] if num_frames is None else int(num_frames)
        height, width = (int(n) for n in resolution)
        if height < 1 or width < 1:
            raise ValueError(f"resolution must be two positive ints (height, width), got {resolution!r}")
        self.resolution = (height, width)
        self.seed = int(seed)
        self.name = f"synthetic/{self.split}"
        focal = NYU_FOCAL_AT_640 * width / 640
        u = (np.arange(width) + 0.5 - width / 2) / focal
        v = -(np.arange(height) + 0.5 - height / 2) / focal
        # Camera-frame ray directions with unit z, so the hit parameter t is the depth: (3, H*W).
        self._rays = np.stack([np.tile(u, height), np.repeat(v, width), np.ones(height * width)]).astype(np.float32)

    def __len__(self) -> int:
        return self.num_frames

    def __getitem__(self, index: int) -> Frame:
        """Frame `index`: rgb uint8 (H, W, 3) and depth float32 (H, W), metres, all > 0."""
        i = check_index(index, self.num_frames)
        rng = np.random.default_rng([self.seed, _SPLIT_CODES[self.split], i])
        return _render(rng, self._rays, self.resolution)


def _render(rng: np.random.Generator, rays_camera: np.ndarray, resolution: tuple[int, int]) -> Frame:
    """Draws one room from `rng` and renders it for the float32 camera rays (3, P), P = H * W."""
    height, width = resolution
    pixels = np.arange(height * width)
    room_lo = np.array([-rng.uniform(1.5, 3.0), 0.0, -0.5], np.float32)
    room_hi = np.array([rng.uniform(1.5, 3.0), rng.uniform(2.5, 3.0), rng.uniform(3.5, 8.0)], np.float32)
    origin = np.array([rng.uniform(room_lo[0] + 0.8, room_hi[0] - 0.8), rng.uniform(1.0, 1.6), 0.0], np.float32)
    turn_camera = _rotation(pitch=-rng.uniform(0.05, 0.35), yaw=rng.uniform(-0.25, 0.25))
    rays = turn_camera.astype(np.float32) @ rays_camera
    rays[np.abs(rays) < 1e-7] = 1e-7

    # The room: the camera is inside, so each ray leaves through the nearest exit face.
    exits = (np.where(rays > 0, room_hi[:, None], room_lo[:, None]) - origin[:, None]) / rays
    axis = exits.argmin(axis=0)
    depth = exits[axis, pixels]
    normal = np.zeros_like(rays)
    normal[axis, pixels] = -np.sign(rays[axis, pixels])
    # Surfaces: 0 floor, 1 ceiling, 2 side walls, 3 back and front walls, 4 + k box k.
    surface = np.where(axis == 1, (rays[1] > 0).astype(np.int64), np.where(axis == 0, 2, 3))

    num_boxes = int(rng.integers(1, 6))
    for k in range(num_boxes):
        half = rng.uniform(0.15, 0.6, size=3)
        centre = np.array(
            [
                rng.uniform(room_lo[0] + 0.3, room_hi[0] - 0.3),
                half[1],
                rng.uniform(1.3, max(1.4, room_hi[2] - 0.7)),
            ]
        )
        turn = _rotation(pitch=0.0, yaw=rng.uniform(-0.8, 0.8)).astype(np.float32)
        local_origin = (turn.T @ (origin - centre)).astype(np.float32)
        local_rays = turn.T @ rays
        entry_face = np.where(local_rays > 0, -half[:, None], half[:, None]).astype(np.float32)
        entries = (entry_face - local_origin[:, None]) / local_rays
        t_in = entries.max(axis=0)
        t_out = ((-entry_face - local_origin[:, None]) / local_rays).min(axis=0)
        hit = np.flatnonzero((t_in <= t_out) & (t_in > 0) & (t_in < depth))
        if hit.size == 0:
            continue
        box_axis = entries[:, hit].argmax(axis=0)
        local_normal = np.zeros((3, hit.size), np.float32)
        local_normal[box_axis, np.arange(hit.size)] = -np.sign(local_rays[box_axis, hit])
        depth[hit] = t_in[hit]
        normal[:, hit] = turn @ local_normal
        surface[hit] = 4 + k

    points = origin[:, None] + depth * rays
    colours = np.concatenate(
        [
            rng.uniform([0.35, 0.22, 0.12], [0.65, 0.45, 0.3], size=(1, 3)),  # floor
            rng.uniform(0.8, 0.95, size=(1, 3)),  # ceiling
            rng.uniform(0.5, 0.9, size=(2, 3)),  # walls
            rng.uniform(0.1, 0.9, size=(num_boxes, 3)),  # boxes
        ]
    ).astype(np.float32)
    tiles = rng.uniform(0.2, 0.6, size=num_boxes + 4).astype(np.float32)
    contrast = rng.uniform(0.05, 0.3, size=num_boxes + 4).astype(np.float32)
    contrast[1] = 0.0  # a plain ceiling
    checker = np.floor(points / tiles[surface]).sum(axis=0) % 2
    texture = 1 - contrast[surface] * checker

    light = np.array([rng.uniform(room_lo[0], room_hi[0]), room_hi[1] - 0.1, rng.uniform(1.0, room_hi[2])], np.float32)
    to_light = light[:, None] - points
    distance = np.sqrt((to_light * to_light).sum(axis=0))
    lambert = np.maximum((normal * to_light).sum(axis=0) / distance, 0)
    shade = 0.25 + 0.9 * lambert / (1 + 0.08 * distance * distance)
    brightness = 255 * texture * shade + rng.standard_normal(depth.size, dtype=np.float32) * 2
    rgb = np.clip(colours[surface] * brightness[:, None] + 0.5, 0, 255).astype(np.uint8)
    return make_frame(rgb.reshape(height, width, 3), depth.reshape(height, width))


def _rotation(pitch: float, yaw: float) -> np.ndarray:
    """The rotation (3, 3) that tilts by `pitch` about x (negative looks down), then turns by
    `yaw` about the vertical y axis."""
    cp, sp, cy, sy = np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    tilt = np.array([[1, 0, 0], [0, cp, sp], [0, -sp, cp]])
    turn = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    return turn @ tilt
