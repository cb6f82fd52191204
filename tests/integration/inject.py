"""Makes a running process execute one system call of our choosing, with
ptrace (root, x86_64 Linux; standard library only: ctypes).

This is how test_sandbox.py exercises the production sandbox with no test
hook in the binary: what an attacker with code execution in a worker
would do, a system call the code itself never makes, is made from the
worker's own main thread, so the kernel applies that process's own
seccomp filter and Landlock domain. Since Linux 4.8 seccomp runs after
the tracer's syscall-entry stop, so a call the tracer rewrites there is
filtered as the new call.

inject(pid, nr, args) attaches (PTRACE_SEIZE + PTRACE_INTERRUPT), lets
the thread run to its next syscall-entry stop (the worker's loop is in
epoll_wait, restarted or made again), rewrites it into nr(args), and
returns ("result", value) from the syscall-exit stop, the original call
put back so the process goes on as if nothing happened; or
("killed", signal) when the process died of it (seccomp's
SCMP_ACT_KILL_PROCESS: SIGSYS)."""

import ctypes
import os
import platform
import struct

PTRACE_PEEKDATA = 2
PTRACE_POKEDATA = 5
PTRACE_CONT = 7
PTRACE_GETREGS = 12
PTRACE_SETREGS = 13
PTRACE_SYSCALL = 24
PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
PTRACE_O_TRACESYSGOOD = 1
WALL = 0x40000000

SYS = {"openat": 257, "setuid": 105, "close": 3}
AT_FDCWD = -100

# struct user_regs_struct (x86_64)
REG_NAMES = ("r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi "
             "orig_rax rip cs eflags rsp ss fs_base gs_base ds es fs gs").split()


class Regs(ctypes.Structure):
    _fields_ = [(n, ctypes.c_ulonglong) for n in REG_NAMES]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.restype = ctypes.c_long
_libc.ptrace.argtypes = (ctypes.c_long, ctypes.c_int, ctypes.c_void_p,
                         ctypes.c_void_p)


def supported():
    return platform.machine() == "x86_64" and os.geteuid() == 0


def _ptrace(req, pid, addr=0, data=0):
    ctypes.set_errno(0)
    r = _libc.ptrace(req, pid, ctypes.c_void_p(addr), ctypes.c_void_p(data))
    err = ctypes.get_errno()
    if r == -1 and err != 0:
        raise OSError(err, "ptrace(%d, %d): %s" % (req, pid, os.strerror(err)))
    return r


def _wait(pid):
    """Next stop of pid: ("stop", sig, event) or ("exit"|"killed", value)."""
    while True:
        _, status = os.waitpid(pid, WALL)
        if os.WIFSTOPPED(status):
            return "stop", os.WSTOPSIG(status), status >> 16
        if os.WIFSIGNALED(status):
            return "killed", os.WTERMSIG(status), 0
        if os.WIFEXITED(status):
            return "exit", os.WEXITSTATUS(status), 0


def _to_syscall_stop(pid):
    """Resumes pid until a syscall stop (entry or exit, by SYSGOOD's
    0x80 bit); signals it receives meanwhile are passed on."""
    sig = 0
    while True:
        _ptrace(PTRACE_SYSCALL, pid, 0, sig)
        what, value, event = _wait(pid)
        if what != "stop":
            return what, value
        if value == 0x80 | 5:       # SIGTRAP | 0x80: a syscall stop
            return "syscall", 0
        # a group stop or PTRACE_INTERRUPT's event stop: nothing to pass
        sig = 0 if event or value in (5, 19, 20, 21, 22) else value


def _poke(pid, addr, data):
    data += b"\0" * (-len(data) % 8)
    for i in range(0, len(data), 8):
        word = struct.unpack("<q", data[i:i + 8])[0]
        _ptrace(PTRACE_POKEDATA, pid, addr + i, word & (2 ** 64 - 1))


def _sigsys_pending(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("SigPnd", "ShdPnd") and int(value, 16) & (1 << 30):
                return True
    return False


def _deliver_until_death(pid):
    sig = 0
    while True:
        _ptrace(PTRACE_CONT, pid, 0, sig)
        what, value, event = _wait(pid)
        if what != "stop":
            return what, value
        sig = 0 if event else value


def inject(pid, name, args=(), strings=()):
    """Runs syscall name in pid's main thread. args: integers; an arg that
    is None is replaced by the address of the next item of strings
    (bytes, copied below the thread's stack pointer)."""
    _ptrace(PTRACE_SEIZE, pid, 0, PTRACE_O_TRACESYSGOOD)
    try:
        _ptrace(PTRACE_INTERRUPT, pid)
        what, value, _ = _wait(pid)
        if what != "stop":
            return what, value
        # to a clean syscall-entry stop: the interrupted call restarted,
        # or the next one the loop makes (after an exit stop, one more)
        what, value = _to_syscall_stop(pid)
        if what != "syscall":
            return what, value
        saved = Regs()
        _ptrace(PTRACE_GETREGS, pid, 0, ctypes.addressof(saved))
        if saved.rax != 2 ** 64 - 38:   # -ENOSYS: only at an entry stop
            what, value = _to_syscall_stop(pid)   # its exit stop
            if what != "syscall":
                return what, value
            what, value = _to_syscall_stop(pid)   # the next entry
            if what != "syscall":
                return what, value
            _ptrace(PTRACE_GETREGS, pid, 0, ctypes.addressof(saved))
        regs = Regs.from_buffer_copy(saved)
        # below the red zone, on the thread's own stack
        addr = (saved.rsp - 4096) & ~15
        values = []
        strings = list(strings)
        for a in args:
            if a is None:
                s = strings.pop(0)
                _poke(pid, addr, s + b"\0")
                values.append(addr)
                addr += (len(s) + 16) & ~7
            else:
                values.append(a & (2 ** 64 - 1))
        regs.orig_rax = SYS[name]
        for reg, v in zip(("rdi", "rsi", "rdx", "r10", "r8", "r9"), values):
            setattr(regs, reg, v)
        _ptrace(PTRACE_SETREGS, pid, 0, ctypes.addressof(regs))
        what, value = _to_syscall_stop(pid)
        if what != "syscall":
            return what, value
        _ptrace(PTRACE_GETREGS, pid, 0, ctypes.addressof(regs))
        if _sigsys_pending(pid):
            # seccomp's kill of a single-threaded process, or a trap:
            # the call rolled back, SIGSYS forced; let it be delivered
            return _deliver_until_death(pid)
        result = ctypes.c_longlong(regs.rax).value
        # back to the original call: re-executed when the thread resumes
        saved.rax = saved.orig_rax
        saved.rip -= 2
        _ptrace(PTRACE_SETREGS, pid, 0, ctypes.addressof(saved))
        _ptrace(PTRACE_DETACH, pid)
        return "result", result
    except OSError:
        try:
            _ptrace(PTRACE_DETACH, pid)
        except OSError:
            pass
        raise
