import ArgumentParser
import CertVaultCore

/// Where a PFX password comes from. Never from an argument: argv is visible in `ps`.
struct PasswordInputOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Read the PFX password from this file (one trailing line break is ignored).", valueName: "path"))
    var passwordFile: String?

    @Option(name: .long, help: ArgumentHelp("Read the PFX password from this open file descriptor.", valueName: "fd"))
    var passwordFd: Int32?

    @Flag(name: .long, help: "Read the PFX password from standard input.")
    var passwordStdin = false

    @Option(name: .long, help: ArgumentHelp("Read the PFX password from this environment variable.", valueName: "name"))
    var passwordEnv: String?

    var source: SecretSource? {
        if let passwordFile { return .file(passwordFile) }
        if let passwordFd { return .fileDescriptor(passwordFd) }
        if passwordStdin { return .standardInput }
        if let passwordEnv { return .environment(passwordEnv) }
        return nil
    }

    func validate() throws {
        let given = [passwordFile != nil, passwordFd != nil, passwordStdin, passwordEnv != nil].filter { $0 }.count
        if given > 1 {
            throw ValidationError("Give at most one of --password-file, --password-fd, --password-stdin, --password-env.")
        }
        if let passwordFd, passwordFd < 0 { throw ValidationError("--password-fd must be a file descriptor number (0 or more).") }
    }
}
