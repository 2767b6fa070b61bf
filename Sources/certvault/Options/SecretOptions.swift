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

    static let names = "--password-file, --password-fd, --password-stdin, --password-env"

    var source: SecretSource? {
        try? SecretChoice.pick(file: passwordFile, fd: passwordFd, stdin: passwordStdin, env: passwordEnv, options: Self.names)
    }

    func validate() throws {
        _ = try SecretChoice.pick(file: passwordFile, fd: passwordFd, stdin: passwordStdin, env: passwordEnv, options: Self.names)
    }
}
