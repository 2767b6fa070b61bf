internal import CCertVaultShims

#if canImport(Glibc)
internal import Glibc
#endif

/// Process-wide protections for a program that holds private keys in memory.
public enum ProcessHardening {
    /// Turns off core dumps and ptrace attachment by other processes of the same user, so a
    /// crash never writes key material to disk.
    ///
    /// Failures are ignored: the protections are best effort and never a reason not to run.
    public static func disableCoreDumps() {
        var limit = rlimit(rlim_cur: 0, rlim_max: 0)
        _ = setrlimit(Int32(RLIMIT_CORE.rawValue), &limit)
        _ = CCertVaultShims_prctl(PR_SET_DUMPABLE, 0)
    }

    /// True when core dumps are off for this process (the soft limit is zero).
    public static var coreDumpsDisabled: Bool {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_CORE.rawValue), &limit) == 0 else { return false }
        return limit.rlim_cur == 0
    }
}
