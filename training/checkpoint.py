"""Safetensors read/write (only numpy/torch needed) and the model's config files."""
import json
import os
import struct

import numpy as np
import torch

_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        array = np.frombuffer(data[start:end], dtype=_DTYPES[info["dtype"]]).reshape(info["shape"])
        out[name] = torch.tensor(array.astype(np.float32))
    return out


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        blob = tensors[name].detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    import os

    os.replace(path + ".tmp", path)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def read_init_configs(init):
    """An init folder's configs (glamm/ and clip/, as init-checkpoint.ts writes them): GLaMM's config.json, CLIP's
    vision_config, CLIP's preprocessor_config.json and GLaMM's added_tokens.json."""
    glamm, clip = os.path.join(init, "glamm"), os.path.join(init, "clip")
    return (
        read_json(os.path.join(glamm, "config.json")),
        read_json(os.path.join(clip, "config.json"))["vision_config"],
        read_json(os.path.join(clip, "preprocessor_config.json")),
        read_json(os.path.join(glamm, "added_tokens.json")),
    )
