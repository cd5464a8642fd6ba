import pytest
import torch

from course_lib.checkpoints import FORMAT, MANIFEST, load_checkpoint, save_checkpoint
from course_lib.config import ModelConfig, ScheduleConfig

from conftest import TINY


def test_round_trip_is_exact(tiny_model, tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", tiny_model, ScheduleConfig(name="cosine", T=300), meta={"steps": 12})
    ckpt = load_checkpoint(path)
    assert ckpt.model.config == TINY
    assert ckpt.schedule.config == ScheduleConfig(name="cosine", T=300)
    assert ckpt.meta == {"steps": 12}
    for k, v in tiny_model.state_dict().items():
        assert torch.equal(v, ckpt.model.state_dict()[k]), k
    x, t = torch.randn(2, 3, 16, 16), torch.tensor([3, 4])
    assert torch.equal(tiny_model(x, t), ckpt.model(x, t))
    assert not ckpt.model.training


def test_label_shares_from_the_metadata_or_the_course_sprites(tiny_model, tmp_path):
    from course_lib import sprites

    def shares(meta):
        return load_checkpoint(save_checkpoint(tmp_path / "s.pt", tiny_model, ScheduleConfig(), meta=meta)).label_shares

    stored = [0.1, 0.2, 0.3, 0.2, 0.2]
    assert shares({"label_shares": stored, "label_names": list(sprites.LABEL_NAMES)}) == tuple(stored)
    assert shares({"label_names": list(sprites.LABEL_NAMES)}) == sprites.CLASS_SHARES
    assert shares({"label_names": ["a", "b", "c", "d", "e"]}) is None
    assert shares({}) is None


def test_half_precision_storage_casts_back(tiny_model, tmp_path):
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "h.pt", tiny_model, ScheduleConfig(), dtype=torch.float16))
    for k, v in tiny_model.state_dict().items():
        w = ckpt.model.state_dict()[k]
        assert w.dtype == v.dtype
        torch.testing.assert_close(w, v.half().to(v.dtype))


def test_no_temporary_file_left_and_existing_file_survives_a_failed_write(tiny_model, tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", tiny_model, ScheduleConfig())
    before = path.read_bytes()

    class Boom(torch.nn.Module):
        config = TINY

        def state_dict(self):
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        save_checkpoint(path, Boom(), ScheduleConfig())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found.*make train"):
        load_checkpoint(tmp_path / "nope.pt")


def test_truncated_and_garbage_checkpoints(tiny_model, tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", tiny_model, ScheduleConfig())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable checkpoint .*corrupt, truncated"):
        load_checkpoint(path)
    path.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(path)


def test_pickled_code_is_never_executed(tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, ("import pathlib; pathlib.Path('%s').write_text('pwned')" % (tmp_path / "pwned"),))

    path = tmp_path / "evil.pt"
    torch.save({"format": "course_lib.checkpoint/1", "payload": Evil()}, path)
    with pytest.raises(ValueError, match="holds code or objects that are not plain data"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()


def test_foreign_file_is_named(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="not a course_lib checkpoint of the expected kind"):
        load_checkpoint(path)


def test_architecture_mismatch_names_the_fields(tiny_model, tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", tiny_model, ScheduleConfig())
    expected = ModelConfig(**{**TINY.to_dict(), "image_size": 32, "channel_mults": (1, 2)})
    with pytest.raises(ValueError, match="image_size: checkpoint has 16, expected 32"):
        load_checkpoint(path, expect=expected)


def test_tampered_state_dict_is_reported(tiny_model, tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", tiny_model, ScheduleConfig())
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["conv_in.weight"] = torch.zeros(8, 1, 3, 3)
    del payload["state_dict"]["conv_out.bias"]
    torch.save(payload, path)
    with pytest.raises(ValueError, match=r"missing \['conv_out.bias'\].*conv_in.weight: \(8, 1, 3, 3\)"):
        load_checkpoint(path)


def test_mean_image_round_trip_and_shape_check(tiny_model, tmp_path):
    assert load_checkpoint(save_checkpoint(tmp_path / "none.pt", tiny_model, ScheduleConfig())).schedule.x0_mean is None
    mu = torch.rand(3, 16, 16) * 2 - 1
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "mu.pt", tiny_model, ScheduleConfig(), x0_mean=mu,
                                           dtype=torch.float16))
    assert torch.equal(ckpt.schedule.x0_mean, mu)  # kept in float32 while the weights are halved
    bad = save_checkpoint(tmp_path / "bad.pt", tiny_model, ScheduleConfig(), x0_mean=torch.zeros(1, 28, 28))
    with pytest.raises(ValueError, match=r"mean image of shape \(1, 28, 28\) for a model of 3x16x16 images"):
        load_checkpoint(bad)


def one_clean_line(message: str) -> bool:
    return "\n" not in message and "\x1b" not in message and "weights_only" not in message


def test_a_malformed_manifest_line_is_named(tiny_model, tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", tiny_model, ScheduleConfig())
    (tmp_path / MANIFEST).write_text(f"{'0' * 64}  other.pt\nnot-a-checksum\n")
    with pytest.raises(ValueError, match=r"MANIFEST, line 2: expected '<sha256>  <file>', found 'not-a-checksum'"):
        load_checkpoint(path)


def test_a_checkpoint_without_weights_is_named(tiny_model, tmp_path):
    path = tmp_path / "m.pt"
    torch.save({"format": FORMAT, "model_config": TINY.to_dict(), "schedule_config": ScheduleConfig().to_dict()}, path)
    with pytest.raises(ValueError, match=r"m\.pt holds no weights \(no 'state_dict'\)"):
        load_checkpoint(path)


def test_random_bytes_give_one_line_that_never_advises_weights_only_false(tmp_path):
    path = tmp_path / "random.pt"
    path.write_bytes(torch.randint(0, 256, (3000,), generator=torch.Generator().manual_seed(0),
                                   dtype=torch.uint8).numpy().tobytes())
    with pytest.raises(ValueError, match="not a readable checkpoint") as error:
        load_checkpoint(path)
    assert one_clean_line(str(error.value)), str(error.value)
    assert "trusted source" not in str(error.value)


def test_pickled_objects_are_refused_in_one_clean_line(tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, ("print('pwned')",))

    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "payload": Evil()}, path)
    with pytest.raises(ValueError, match=r"evil\.pt holds code or objects that are not plain data \(exec\); "
                                         r"it will not be loaded") as error:
        load_checkpoint(path)
    assert one_clean_line(str(error.value)), str(error.value)
