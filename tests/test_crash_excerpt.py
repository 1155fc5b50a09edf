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


def test_a_rank_stopped_while_it_prints_its_traceback_does_not_hide_the_first_failure():
    """Both ranks raise; torchrun sees rank 0 exit and SIGTERMs rank 1 while rank 1 is still
    printing its traceback, so the last worker traceback has no exception line (the order of
    torchrun 2.13's lines as it printed them here, with the cut where a full suite run met it)."""
    rank1_cut = TRACEBACK.format(between="", before="").rsplit("RuntimeError", 1)[0]
    sigterm = ("W1203 13:38:45.660000 3 torch/distributed/elastic/multiprocessing/api.py:1028] Sending process 8 "
               "closing signal SIGTERM\n")
    log = "step:1/20 train_loss:6.9\n" + TRACEBACK.format(between="", before="") + sigterm + rank1_cut + TORCHRUN
    crash = worker_crash(log)
    assert crash.exception == "RuntimeError: shape mismatch in dequantize_state_dict_int8"
    assert crash.frame == "/w/t0-a1/out/train_gpt.py:184 in main"
    # with no complete worker traceback at all, the cut one still says where it was
    alone = worker_crash("step:1/20 train_loss:6.9\n" + sigterm + rank1_cut + TORCHRUN)
    assert alone.frame == "/w/t0-a1/out/train_gpt.py:184 in main" and alone.exception.startswith("E1203")
