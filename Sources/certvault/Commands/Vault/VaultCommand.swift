import ArgumentParser
import CertVaultCore
import CertVaultIssuer
import CertVaultVault

/// `certvault vault ...`: integrity and key management.
struct VaultCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vault", abstract: "Check the vault and manage its keys.",
        subcommands: [Verify.self, Reindex.self, RotateKEK.self, ChangePassphrase.self, Backup.self, Restore.self, Cleanup.self,
                      Migrate.self])

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open every entry and check the audit log; exit 1 if anything fails.")

        @OptionGroup var vault: VaultOptions

        @Flag(name: .long, help: "Print JSON.")
        var json = false

        func run() throws {
            let report = try vault.open().verify()
            if json {
                Terminal.out(try Terminal.json(report) + "\n")
            } else {
                Terminal.out("Checked \(report.entries) entries and \(report.auditRecords) audit records: "
                    + (report.intact ? "all intact.\n" : "\(report.problems.count) problem(s).\n"))
                for problem in report.problems { Terminal.out("  FAILED: \(problem)\n") }
            }
            if !report.intact { throw ExitCode(1) }
        }
    }

    struct Reindex: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild the index that 'list' reads, from the entry files (after a crash or when verify asks for it).",
            discussion: "Exits 1 if generations the old index or the audit log knows are missing: reindex does not hide a deletion.")

        @OptionGroup var vault: VaultOptions

        func run() throws {
            let report = try vault.open().rebuildIndex()
            Terminal.out("Rebuilt the index from \(report.entries) entries.\n")
            guard report.missing.isEmpty else {
                Terminal.err("certvault: \(report.missing.count) generation(s) are missing (deleted; a crash never removes an entry): "
                    + "\(report.missing.joined(separator: ", ")).\n"
                    + "hint: Restore them from a backup; 'certvault vault verify' keeps reporting them, the index cannot repair this.\n")
                throw ExitCode(1)
            }
        }
    }

    struct RotateKEK: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-kek",
            abstract: "Add a new key-encryption key, rewrap every entry's data key with it, and retire unused old KEKs.")

        @OptionGroup var vault: VaultOptions

        func run() throws {
            let report = try vault.open().rotateKEK()
            let retired = report.retiredKEKs.isEmpty ? "none" : report.retiredKEKs.map(String.init).joined(separator: ", ")
            Terminal.out("New KEK \(report.newKEK); rewrapped \(report.rewrapped) entries; retired KEKs: \(retired).\n")
        }
    }

    struct ChangePassphrase: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "change-passphrase", abstract: "Rewrap the root key under a new passphrase; nothing else changes.")

        @OptionGroup var vault: VaultOptions

        @Option(name: .long, help: ArgumentHelp("The new passphrase's file.", valueName: "path"))
        var newPassphraseFile: String?

        @Option(name: .long, help: ArgumentHelp("The new passphrase's environment variable.", valueName: "name"))
        var newPassphraseEnv: String?

        @Option(name: .long, help: ArgumentHelp("The new passphrase's file descriptor.", valueName: "fd"))
        var newPassphraseFd: Int32?

        func run() throws {
            let names = "--new-passphrase-file, --new-passphrase-fd, --new-passphrase-env"
            guard let source = try SecretChoice.pick(file: newPassphraseFile, fd: newPassphraseFd, env: newPassphraseEnv, options: names) else {
                throw ValidationError("Give the new passphrase with one of \(names).")
            }
            try vault.open().changePassphrase(to: source)
            Terminal.out("The vault's root key is now wrapped under the new passphrase.\n")
        }
    }
}

extension VaultCommand {
    struct Backup: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the whole vault into one new encrypted file (opened later with the same key file or passphrase).")

        @OptionGroup var vault: VaultOptions

        @Option(name: .long, help: ArgumentHelp("The new backup file (mode 0600).", valueName: "path"))
        var out: String

        func run() throws {
            let count = try vault.open().backup(to: out)
            Terminal.out("Backed up \(count) files to \(out). It opens only with this vault's key file or passphrase: keep them apart.\n")
        }
    }

    struct Restore: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Restore a backup into a new vault folder (--vault, which must not exist) and verify it.")

        @Argument(help: "The backup file.")
        var bundle: String

        @OptionGroup var vault: VaultOptions

        func run() throws {
            let (restored, report) = try Vault.restoreAndVerify(from: bundle, to: vault.vaultPath, unlock: vault.protection())
            Terminal.out("Restored \(report.entries) entries into \(restored.path); verify: \(report.intact ? "intact" : "\(report.problems.count) problem(s)").\n")
            if !report.intact { throw ExitCode(1) }
        }
    }

    struct Cleanup: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove what interrupted runs left: temporary files in the vault, unfinished restores beside it; "
                + "with --exports DIR, unfinished export folders there. Files are overwritten before they are deleted.",
            discussion: """
                Nothing a running certvault is writing is touched: inside the vault only temporary files found \
                while holding the vault's lock are removed (every writer holds it), and a staging folder only when \
                no process holds its lock and it is older than \(Leftovers.minimumAge) seconds. The next write \
                into a tenant folder, and the next export into a folder, remove their leftovers on their own.
                """)

        @OptionGroup var vault: VaultOptions

        @Option(name: .long, help: ArgumentHelp("Also clean this export folder (as given to 'issue --out').", valueName: "dir"))
        var exports: [String] = []

        func run() throws {
            var removed = try vault.open().removeLeftovers()
            for folder in exports { removed += CredentialExport.removeLeftovers(in: folder).map { "\(folder)/\($0)" } }
            Terminal.out(removed.isEmpty ? "No leftovers found.\n" : "Removed \(removed.count) leftover(s): \(removed.joined(separator: ", ")).\n")
        }
    }
}

/// `certvault audit ...`: the authenticated audit log.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Show or verify the vault's audit log.", subcommands: [Show.self, Verify.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the audit records.")
        @OptionGroup var vault: VaultOptions
        @Flag(name: .long, help: "Print JSON.")
        var json = false

        func run() throws {
            let (records, problems) = try vault.open().auditRecords()
            if json {
                Terminal.out(try Terminal.json(records) + "\n")
            } else {
                var lines = ["SEQ\tTIME\tACTOR\tACTION\tTENANT\tGEN\tDETAIL"]
                for r in records {
                    lines.append("\(r.sequence)\t\(r.time)\t\(r.actor)\t\(r.action)\t\(r.tenant ?? "-")\t\(r.generation.map(String.init) ?? "-")\t\(r.detail)")
                }
                Terminal.out(Table.render(lines))
            }
            if !problems.isEmpty {
                Terminal.err("certvault: the audit log does not verify (\(problems.count) problem(s)); run 'certvault audit verify'.\n")
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check every record's MAC, the chain and the head; exit 1 on any problem.")
        @OptionGroup var vault: VaultOptions

        func run() throws {
            let (records, problems) = try vault.open().auditRecords()
            if problems.isEmpty {
                Terminal.out("Audit log intact: \(records.count) records, chain and head verified.\n")
            } else {
                for problem in problems { Terminal.out("FAILED: \(problem)\n") }
                throw ExitCode(1)
            }
        }
    }
}
