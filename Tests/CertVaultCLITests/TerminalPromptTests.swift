import CertVaultTesting
import Foundation
import Testing

/// The password prompt on a real pseudo-terminal, driven by python3's `pty` module.
@Suite("The terminal password prompt", .enabled(if: ExternalTool.python3.isAvailable || TestEnvironment.toolsRequired,
                                                 "python3 is not installed"))
struct TerminalPromptTests {
    /// Starts `certvault inspect FILE --password-stdin` on a new pseudo-terminal, waits for the
    /// prompt, then types `interrupt` (some characters, then Ctrl-C) or N characters and Enter.
    /// Prints the exit code, whether echo and line editing are on afterwards, and the output.
    static let driver = #"""
        import json, os, pty, select, signal, sys, termios, time
        binary, pfx, mode = sys.argv[1:4]
        pid, fd = pty.fork()
        if pid == 0:
            # As an interactive shell starts a foreground job: whatever the test runner ignores, not ignored.
            stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
            for number in stops:
                signal.signal(number, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)
            os.execv(binary, [binary, "inspect", pfx, "--password-stdin"])

        def read_until(marker, timeout):
            data, end = b"", time.time() + timeout
            while (marker is None or marker not in data) and time.time() < end:
                ready, _, _ = select.select([fd], [], [], 0.2)
                if ready:
                    try:
                        chunk = os.read(fd, 65536)
                    except OSError:
                        break
                    if not chunk:
                        break
                    data += chunk
            return data

        out = read_until(b"Password (not shown): ", 120)
        if mode == "interrupt":
            os.write(fd, b"half-typed")
            time.sleep(0.3)
            os.write(fd, b"\x03")
        else:
            pending = b"a" * int(mode) + b"\n"
            while pending:
                pending = pending[os.write(fd, pending):]
        out += read_until(None, 30)
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == 0:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            out += b"[still running after 30 s: killed]"
        attrs = termios.tcgetattr(fd)
        print(json.dumps({"exit": os.waitstatus_to_exitcode(status), "echo": bool(attrs[3] & termios.ECHO),
                          "canonical": bool(attrs[3] & termios.ICANON), "output": out.decode("utf-8", "replace")}))
        """#

    struct Outcome: Decodable {
        let exit: Int
        let echo: Bool
        let canonical: Bool
        let output: String
    }

    func run(_ mode: String) throws -> Outcome {
        let dir = try TemporaryDirectory()
        let pfx = try dir.write("x.pfx", bytes: Array(repeating: 0x30, count: 64))
        let result = try ExternalTool.python3.run(["-c", Self.driver, CLI.binary, pfx, mode], environment: CLI.isolation)
        try #require(result.status == 0, "\(result.stderr)")
        return try JSONDecoder().decode(Outcome.self, from: result.stdoutData)
    }

    @Test("Ctrl-C at the prompt restores echo and line editing, and exits 130")
    func interrupt() throws {
        let outcome = try run("interrupt")
        #expect(outcome.exit == 130, "\(outcome.output)")
        #expect(outcome.echo, "echo was left off")
        #expect(outcome.canonical)
        #expect(!outcome.output.contains("half-typed"))
    }

    @Test("more than 4096 bytes at the prompt are refused, naming the limit, never cut")
    func tooLong() throws {
        let outcome = try run("5000")
        #expect(outcome.exit == 1, "\(outcome.output)")
        #expect(outcome.output.contains("longer than 4096 bytes"), "\(outcome.output)")
        #expect(outcome.echo)
        #expect(!outcome.output.contains("aaaa"), "the typed secret was echoed")
    }

    @Test("4096 bytes at the prompt are accepted as the password")
    func atTheLimit() throws {
        let outcome = try run("4096")
        // The password is read; the file (not a PFX) is what fails.
        #expect(outcome.output.contains("not a PKCS#12"), "\(outcome.output)")
        #expect(!outcome.output.contains("longer than"))
        #expect(outcome.echo)
    }
}
