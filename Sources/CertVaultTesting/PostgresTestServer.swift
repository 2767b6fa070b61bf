import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real PostgreSQL server on loopback for the tests, from Debian's packages (`postgresql`).
///
/// ``shared()`` is one server per test process: the one `.ci/run` started (its URL in
/// `CERTVAULT_TEST_POSTGRES_URL`, its password file in `CERTVAULT_TEST_POSTGRES_PASSWORD_FILE`), or
/// else one this process starts in a temporary data folder and stops at exit. Each test takes a
/// database of its own with ``makeDatabase()``. Tests that stop or kill the server make a private
/// one with ``start()``.
///
/// The server takes password (SCRAM-SHA-256) logins over TCP on 127.0.0.1 for the user
/// `certvault`, whose password is in ``passwordFile`` (0600), so the tests go through the same
/// password-from-a-file path as a deployment. As root (CI), the server runs as the `postgres` user
/// that Debian's package creates, since PostgreSQL refuses to run as root.
///
/// When no server binaries are installed, ``unavailableReason`` says so: tests skip with it,
/// or fail when `CERTVAULT_REQUIRE_TOOLS=1`.
public final class PostgresTestServer: @unchecked Sendable {
    public let host = "127.0.0.1"
    public let port: Int
    public let user = "certvault"
    /// A file holding the password of ``user`` (no newline).
    public let passwordFile: String
    /// The data folder (nil for a server this process did not start).
    public let dataFolder: String?
    private let binaries: String?
    private let lock = NSLock()

    /// Why no server can be had here, or nil when one can.
    public static var unavailableReason: String? {
        if ProcessInfo.processInfo.environment["CERTVAULT_TEST_POSTGRES_URL"] != nil { return nil }
        if binaryFolder() == nil {
            return "PostgreSQL's server programs (initdb, pg_ctl) are not installed; install Debian's 'postgresql' package"
        }
        if geteuid() == 0, getpwnam("postgres") == nil {
            return "running as root, but there is no 'postgres' user to run the server as (Debian's 'postgresql' package creates it)"
        }
        return nil
    }

    private static let sharedLock = NSLock()
    nonisolated(unsafe) private static var sharedServer: PostgresTestServer?

    /// The server shared by this test process.
    public static func shared() throws -> PostgresTestServer {
        sharedLock.lock()
        defer { sharedLock.unlock() }
        if let sharedServer { return sharedServer }
        let server: PostgresTestServer
        let environment = ProcessInfo.processInfo.environment
        if let url = environment["CERTVAULT_TEST_POSTGRES_URL"], let parts = URLComponents(string: url), let port = parts.port,
           let passwordFile = environment["CERTVAULT_TEST_POSTGRES_PASSWORD_FILE"] {
            server = PostgresTestServer(port: port, passwordFile: passwordFile, dataFolder: nil, binaries: binaryFolder())
        } else {
            server = try start()
            atexit { PostgresTestServer.stopSharedAtExit() }
        }
        sharedServer = server
        return server
    }

    private static func stopSharedAtExit() {
        if let server = sharedServer, server.dataFolder != nil { server.kill() }
    }

    private init(port: Int, passwordFile: String, dataFolder: String?, binaries: String?) {
        self.port = port
        self.passwordFile = passwordFile
        self.dataFolder = dataFolder
        self.binaries = binaries
    }

    deinit {
        if dataFolder != nil, self !== PostgresTestServer.sharedServer { kill() }
    }

    /// Starts a private server in a new temporary data folder (initdb, then pg_ctl start).
    public static func start() throws -> PostgresTestServer {
        if let reason = unavailableReason { throw Failure(reason) }
        let binaries = binaryFolder()!
        var template = Array("\(NSTemporaryDirectory())/certvault-pg-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw Failure("cannot make a temporary folder") }
        let folder = String(cString: made)
        let data = folder + "/data"
        let passwordFile = folder + "/password"
        let password = (0..<24).map { _ in "abcdefghijkmnopqrstuvwxyz23456789".randomElement()! }
        try Data(String(password).utf8).write(to: URL(fileURLWithPath: passwordFile))
        chmod(passwordFile, 0o600)
        if geteuid() == 0, let account = getpwnam("postgres") {
            // The server's user must own the folder and read the password file at initdb.
            for path in [folder, passwordFile] { chown(path, account.pointee.pw_uid, account.pointee.pw_gid) }
        }
        try run(binaries + "/initdb", ["-D", data, "-U", "certvault", "--pwfile=\(passwordFile)", "--auth-host=scram-sha-256",
                                       "--auth-local=trust", "-E", "UTF8", "--no-sync", "--locale=C"])
        let server = PostgresTestServer(port: freePort(), passwordFile: passwordFile, dataFolder: folder, binaries: binaries)
        try server.startServer()
        return server
    }

    /// A postgres:// URL (no password; it is in ``passwordFile``) for `database`.
    public func url(database: String) -> String { "postgres://\(user)@\(host):\(port)/\(database)?sslmode=disable" }

    /// Creates a new empty database with a unique name and returns its name.
    public func makeDatabase(prefix: String = "t") throws -> String {
        let name = "\(prefix)_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16))"
        try psql(database: "postgres", "CREATE DATABASE \(name)")
        return name
    }

    /// Runs SQL with `psql` as ``user`` (test set-up and tampering only; the code under test uses postgres-nio).
    @discardableResult
    public func psql(database: String, _ sql: String) throws -> String {
        guard let binaries else { throw Failure("psql is not installed") }
        let password = try String(contentsOfFile: passwordFile, encoding: .utf8).trimmingCharacters(in: .newlines)
        return try PostgresTestServer.run(binaries + "/psql", ["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", String(port),
                                                            "-U", user, "-d", database, "-c", sql],
                                          environment: ["PGPASSWORD": password], asServerUser: false)
    }

    /// Stops the server (fast shutdown: running transactions are rolled back).
    public func stop() throws {
        guard let dataFolder, let binaries else { throw Failure("this server was not started by the tests") }
        try PostgresTestServer.run(binaries + "/pg_ctl", ["-D", dataFolder + "/data", "-m", "fast", "-w", "stop"])
    }

    /// Starts the server again after ``stop()``, on the same port.
    public func restart() throws { try startServer() }

    /// Stops the server at once (SIGQUIT to the postmaster: immediate shutdown) and ignores failures.
    /// A signal, not pg_ctl: it also runs at exit, where Foundation's Process no longer works.
    public func kill() {
        guard let dataFolder,
              let text = try? String(contentsOfFile: dataFolder + "/data/postmaster.pid", encoding: .utf8),
              let first = text.split(separator: "\n").first, let pid = Int32(first), pid > 1 else { return }
        _ = Glibc.kill(pid, SIGQUIT)
        for _ in 0..<100 where Glibc.kill(pid, 0) == 0 { usleep(50_000) }
    }

    private func startServer() throws {
        guard let dataFolder, let binaries else { throw Failure("this server was not started by the tests") }
        let options = "-p \(port) -h \(host) -k \(dataFolder) -c fsync=off -c max_connections=200"
        try PostgresTestServer.run(binaries + "/pg_ctl", ["-D", dataFolder + "/data", "-l", dataFolder + "/server.log", "-w", "-t", "60",
                                                          "-o", options, "start"])
    }

    /// The folder of initdb, pg_ctl and psql: the newest of /usr/lib/postgresql/*/bin, or PATH's.
    static func binaryFolder() -> String? {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted(by: >)
        for version in versions where FileManager.default.isExecutableFile(atPath: "\(root)/\(version)/bin/initdb") {
            return "\(root)/\(version)/bin"
        }
        for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        where FileManager.default.isExecutableFile(atPath: "\(folder)/initdb") {
            return String(folder)
        }
        return nil
    }

    private static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Runs a program (as the `postgres` user when root and `asServerUser`) and returns its output.
    ///
    /// posix_spawn and waitpid, not Foundation's Process: Process waits for its child through a
    /// descriptor that the server started by `pg_ctl start` inherits and keeps, so it never returned.
    /// The output goes to a file for the same reason (a pipe would stay open as long as the server).
    @discardableResult
    static func run(_ program: String, _ arguments: [String], environment: [String: String] = [:],
                    asServerUser: Bool = true) throws -> String {
        var argv = [program] + arguments
        var executable = program
        if geteuid() == 0, asServerUser {
            executable = "/usr/sbin/runuser"
            argv = ["runuser", "-u", "postgres", "--"] + argv
        }
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        let outputPath = "\(NSTemporaryDirectory())/certvault-pg-output-\(UUID().uuidString)"
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (cArguments + cEnvironment).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, cArguments, cEnvironment)
        guard spawned == 0 else { throw Failure("cannot start \(executable): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let exited = (status & 0x7f) == 0
        let code = (status >> 8) & 0xff
        guard exited, code == 0 else {
            throw Failure("\((program as NSString).lastPathComponent) failed (status \(status)): \(text.suffix(600))")
        }
        return text
    }

    /// Why the test server could not do something.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}
