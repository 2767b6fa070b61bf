internal import CertVaultCore
internal import CertVaultOnboarding
internal import CertVaultPolicy
internal import CertVaultVB365
public import Foundation

/// One input -> parse: the functions that both the libFuzzer targets (Tests/Fuzz) and the replay
/// suite (`swift test --filter FuzzReplay`) call, so that every saved input stays a regression
/// test without libFuzzer.
///
/// Each function feeds arbitrary bytes to a reader through its public entry point, the way the
/// program would, and looks at what comes back (the value or the error's text). A thrown error
/// is a correct answer; a trap, a crash or a hang is a defect.
public enum FuzzEntries {
    /// A fuzz target: its name (the corpus folder under Tests/Fuzz/corpus) and its entry function.
    public struct Target: Sendable {
        /// The name, also the corpus folder.
        public let name: String
        /// What the target feeds.
        public let summary: String
        /// Parses one input; never throws, never traps on any input (that is what is tested).
        public let parse: @Sendable (Data) -> Void
        /// Names the known, not yet fixed defect an input would hit, if any (see ``KnownIssues``).
        public let knownIssue: @Sendable (Data) -> String?

        init(
            name: String, summary: String, run: @escaping @Sendable (Data) -> Void,
            knownIssue: @escaping @Sendable (Data) -> String? = { _ in nil }
        ) {
            self.name = name
            self.summary = summary
            self.parse = run
            self.knownIssue = knownIssue
        }

        /// What the fuzzer calls: ``parse``, except for inputs that would hit a known defect
        /// (so that one unfixed crash does not stop every run from finding the next).
        public func run(_ data: Data) {
            guard knownIssue(data) == nil else { return }
            parse(data)
        }
    }

    /// Every target, in the order the fuzz script runs them.
    public static let targets: [Target] = [
        Target(name: "policy", summary: "PolicyLoader on policy file bytes (load(path:) and parse: TOML subset, schema)", run: policy),
        Target(name: "intake", summary: "tenant intake CSV (TenantIntake, IntakeFile) and intake JSON (IntakeFile)", run: intake),
        Target(name: "vb365", summary: "VB365 response and error bodies through JSONDecoder and the models", run: vb365),
        Target(
            name: "vault-files",
            summary: "vault files as stored: entry, keyring, index, audit log and head, key file, "
                + "root.passphrase, backup bundle (before authentication)", run: VaultFuzzing.rawFile, knownIssue: KnownIssues.vault),
        Target(
            name: "vault-sealed",
            summary: "what the vault parses after authentication: entry payload and metadata, "
                + "index and audit lines, keyring records, backup contents (sealed with the fixed test key)", run: VaultFuzzing.sealed,
            knownIssue: KnownIssues.vault),
    ]

    /// The target with this name.
    public static func target(named name: String) -> Target? { targets.first { $0.name == name } }

    /// Renders an error the way the program would show it (the text embeds parts of the input).
    static func show(_ error: any Error) {
        if let error = error as? CertVaultError {
            blackHole(error.description)
            blackHole(DisplayText.escapingControls(error.description))
        } else {
            blackHole(String(describing: error))
        }
    }

    /// Keeps the optimizer from dropping work whose result is unused.
    @inline(never)
    static func blackHole<T>(_ value: T) {
        withExtendedLifetime(value) {}
    }

    // MARK: Policy

    /// A policy file's bytes through ``PolicyLoader/load(path:)`` (size, UTF-8 and whatever else
    /// it checks on the bytes), and, when they are UTF-8, through ``PolicyLoader/parse(_:source:defaultName:)``.
    @Sendable static func policy(_ data: Data) {
        let scratch = VaultFuzzing.Scratch()
        defer { scratch.remove() }
        if (try? VaultFuzzing.writeFile([UInt8](data), to: "\(scratch.path)/fuzz.toml")) != nil {
            do {
                blackHole(try PolicyLoader.load(path: "\(scratch.path)/fuzz.toml"))
            } catch {
                show(error)
            }
        }
        guard data.count <= PolicyLoader.maximumFileSize, let text = String(validating: data, as: UTF8.self) else { return }
        do {
            let policy = try PolicyLoader.parse(text, source: "fuzz.toml", defaultName: "fuzz")
            blackHole(policy)
        } catch {
            show(error)
        }
    }

    // MARK: Intake

    /// Intake bytes as a CSV file through ``IntakeFile/load(path:)`` (however it reads the bytes:
    /// UTF-8, a BOM), as CSV text through both readers, and as JSON.
    @Sendable static func intake(_ data: Data) {
        guard data.count <= 16 << 20 else { return }
        let scratch = VaultFuzzing.Scratch()
        defer { scratch.remove() }
        if (try? VaultFuzzing.writeFile([UInt8](data), to: "\(scratch.path)/tenants.csv")) != nil {
            do {
                blackHole(try IntakeFile.load(path: "\(scratch.path)/tenants.csv"))
            } catch {
                show(error)
            }
        }
        let text = String(decoding: data, as: UTF8.self)
        do {
            let rows = try TenantIntake.parseCSV(text, source: "fuzz.csv")
            blackHole(rows.map { "\($0.tenant) \($0.org ?? "") \($0.domain ?? "")" })
        } catch {
            show(error)
        }
        do {
            let intakes = try IntakeFile.parseCSV(text, source: "fuzz.csv")
            blackHole(intakes)
        } catch {
            show(error)
        }
        do {
            let intakes = try IntakeFile.parseJSON(data, source: "fuzz.json")
            blackHole(intakes)
        } catch {
            show(error)
        }
    }

    // MARK: VB365

    /// A response body decoded as every type the client decodes, and as an error body.
    @Sendable static func vb365(_ data: Data) {
        func decode<T: Decodable>(_ type: T.Type, _ use: (T) -> Void) {
            do {
                use(try JSONDecoder().decode(T.self, from: data))
            } catch {
                blackHole(String(describing: error))
            }
        }
        decode(VB365TokenResponse.self) { blackHole("\($0.tokenType) \($0.expiresIn) \($0.userName ?? "") \($0.issued) \($0.expires)") }
        decode(VB365DeviceCode.self) { blackHole(DisplayText.escapingControls("\($0.userCode) \($0.verificationUrl) \($0.message)")) }
        decode(VB365DeviceCodeCheck.self) { blackHole($0.authenticated) }
        decode(VB365ServiceInstance.self) { blackHole("\($0.installationId ?? "") \($0.version ?? "")") }
        decode(VB365Organization.self) { organization in
            blackHole((organization.applicationId, organization.applicationCertificateThumbprint, organization.links?.count))
            blackHole(String(describing: organization.exchangeOnlineSettings?.applicationCertificatePassword))
        }
        decode([VB365Organization].self) { blackHole($0.map(\.applicationId)) }
        decode(VB365OrganizationPage.self) { blackHole(($0.offset, $0.limit, $0.setId, $0.results.map(\.applicationId))) }
        decode(VB365ErrorBody.self) { body in
            blackHole(body.text.map { DisplayText.escapingControls($0, limit: 500) })
            blackHole(body.errorCode.map { DisplayText.escapingControls($0) })
        }
    }
}
