import ArgumentParser
import CertVaultCore
import CertVaultPolicy

/// `certvault policy check`: validate policy files.
struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Work with issuance policy files.",
        subcommands: [Check.self, Default.self]
    )

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate policy files and print the settings they resolve to.")

        @Argument(help: "Policy files, e.g. policy/*.toml (none: the built-in default).")
        var files: [String] = []

        func run() throws {
            for file in files.isEmpty ? [nil] : files.map(Optional.some) {
                let policy = try PolicyLoader.load(pathOrBuiltIn: file)
                let file = file ?? PolicyLoader.builtInDefaultSource
                let subject = policy.subject.map { "\($0.type.rawValue)=\($0.value.source)" }.joined(separator: ", ")
                Terminal.out("""
                    \(file): OK
                      name            \(policy.name)
                      key             RSA-\(policy.keyBits), \(policy.digest.rawValue)
                      validity        \(policy.validityDays) days (notBefore \(policy.backdateSeconds) s in the past), renew \(policy.renewBeforeDays) days before expiry
                      subject         \(subject)
                      friendly name   \(policy.friendlyName.source)
                      key usage       \(policy.extensions.keyUsage.map(\.rawValue).joined(separator: ", "))\(policy.extensions.keyUsageCritical ? " (critical)" : "")
                      extended usage  \(policy.extensions.extendedKeyUsage.isEmpty ? "(none)" : policy.extensions.extendedKeyUsage.map(\.rawValue).joined(separator: ", "))
                      PKCS#12         \(policy.pkcs12.profile.rawValue), \(policy.pkcs12.iterations) iterations, MAC \(policy.pkcs12.macIterations)
                      password        \(policy.password.length) generated characters; supplied \(policy.password.allowSupplied ? "allowed, at least \(policy.password.minimumSuppliedLength)" : "not allowed")

                    """)
            }
        }
    }

    struct Default: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the built-in default policy (the text of policy/default.toml), to start a policy file from.")

        func run() throws {
            Terminal.out(PolicyLoader.builtInDefaultText)
        }
    }
}
