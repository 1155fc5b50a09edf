"""The crash excerpt an agent reads: the exception and the deepest recipe frame of the last
traceback, when other processes' lines land inside it (torchrun's ranks share one log, and a
rank's buffered prints come out when it exits, in the middle of another rank's traceback)."""

from evaluators.verdict import crash_from_log, worker_crash

RANK0_PRINTS = "Serialized model: 4096 bytes\nTotal submission size: 15826845 bytes\n"
TRACEBACK = """Traceback (most recent call last):
  File "/w/t0-a1/out/train_gpt.py", line 197, in <module>
    main()
{between}  File "/w/t0-a1/out/train_gpt.py", line 184, in main
    raise RuntimeError("shape mismatch in dequantize_state_dict_int8")
{before}RuntimeError: shape mismatch in dequantize_state_dict_int8
"""
TORCHRUN = """E1203 07:44:28.977000 30514 torch/distributed/elastic/multiprocessing/api.py:1002] failed (exitcode: 1)
Traceback (most recent call last):
  File "/venv/bin/torchrun", line 6, in <module>
    sys.exit(main())
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:\x20
============================================================
"""


def test_another_ranks_lines_inside_a_traceback_are_not_its_exception():
    for between, before in ((RANK0_PRINTS, ""), ("", RANK0_PRINTS), (RANK0_PRINTS, RANK0_PRINTS)):
        crash = worker_crash("step:1/20 train_loss:6.9\n" + TRACEBACK.format(between=between, before=before) + TORCHRUN)
        assert crash.exception == "RuntimeError: shape mismatch in dequantize_state_dict_int8", (between, before)
        assert crash.frame == "/w/t0-a1/out/train_gpt.py:184 in main"


def test_the_exception_line_in_the_forms_python_prints_it():
    for line in ("KeyboardInterrupt", "torch.OutOfMemoryError: CUDA out of memory.", "AssertionError:",
                 "numpy.core._exceptions._ArrayMemoryError: Unable to allocate 8.00 GiB"):
        log = TRACEBACK.format(between="", before="").replace(
            'RuntimeError: shape mismatch in dequantize_state_dict_int8\n', line + "\n")
        assert crash_from_log(log).exception == line


def test_a_traceback_cut_off_before_its_exception_says_what_it_has():
    cut = TRACEBACK.format(between="", before="").rsplit("RuntimeError", 1)[0] + "killed by the watchdog\n"
    assert crash_from_log(cut).exception == "killed by the watchdog"
    assert crash_from_log("no traceback here\n") is None
