import ArgumentParser
import CertVaultConfiguration
import CertVaultCore
import CertVaultIssuer
import CertVaultOnboarding
import CertVaultPolicy
import CertVaultServer
import CertVaultVB365
import CertVaultVault
import Foundation
import Logging

/// `certvault onboard ...`: add customers' Microsoft 365 organizations to VB365.
struct OnboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "onboard",
        abstract: "Add a tenant's Microsoft 365 organization to VB365 with its certificate from the vault (pausable).",
        discussion: """
            start gets a Microsoft device code for the customer and pauses; wait polls until the \
            customer's Global Administrator has signed in and then adds the organization; resume does \
            the same once, or when told the customer is done. The state survives restarts: \
            see docs/onboarding.md.
            """,
        subcommands: [OnboardStartCommand.self, OnboardWaitCommand.self, OnboardResumeCommand.self, OnboardStatusCommand.self,
                      OnboardRenewCodeCommand.self]
    )
}

/// Options every onboarding command shares.
struct OnboardingContextOptions: ParsableArguments {
    @OptionGroup var vault: VaultOptions
    @OptionGroup var connection: VB365ConnectionOptions

    @Option(name: .long, help: ArgumentHelp("The issuance policy for tenants without a valid certificate: a file, or a name in [policy] folder (default: $CERTVAULT_POLICY, [onboarding] policy of --config, else the built-in default).", valueName: "path"))
    var policy: String?

    @Option(name: .long, help: ArgumentHelp("Where onboarding records are kept (default: $CERTVAULT_ONBOARDING, [onboarding] state_dir of --config, or keys/onboarding).", valueName: "dir"))
    var stateDir: String?

    /// The configuration file's values (`--config`, `$CERTVAULT_CONFIG`) with environment overrides.
    func configuration() throws -> ServiceConfiguration { try vault.configuration() }

    var stateDirectory: String { get throws { try stateDir ?? configuration().onboarding.stateDirectory } }

    func makeStore() throws -> OnboardingStore {
        if stateDir == nil {
            // The configuration's [storage]: on PostgreSQL, the records every replica uses.
            let storage = try ServiceStorage.open(
                try configuration(), logger: Logger(label: "certvault.cli", factory: { _ in SwiftLogNoOpLogHandler() }))
            if storage.isShared { return try storage.onboardingStore(folder: try stateDirectory) }
        }
        return try OnboardingStore(folder: stateDirectory)
    }

    /// The issuance policy: --policy, else the configuration's (environment, file), else the built-in default.
    func issuancePolicy() throws -> IssuancePolicy { try configuration().issuancePolicy(policy) }

    /// The workflow for one tenant's existing record (its server URL is the default).
    func makeOnboarding(for tenant: String, logger: Logger) throws -> (TenantID, Onboarding) {
        let id = try TenantID(tenant)
        return (id, try makeOnboarding(logger: logger, serverURL: try makeStore().load(id)?.serverURL))
    }

    /// The workflow; `serverURL` (a record's) is used when neither --url, the environment nor the file gives one.
    func makeOnboarding(logger: Logger, serverURL: String? = nil) throws -> Onboarding {
        guard try vault.vaultExists else {
            throw CertVaultError(.invalidInput, "No vault at '\(try vault.vaultPath)': onboarding takes each tenant's certificate from the vault.",
                                 hint: "Create one with 'certvault init' (or give --vault, or [vault] path in --config).")
        }
        let client = try connection.makeClient(logger: logger, configuration: try configuration(), serverURL: serverURL)
        let issuer = Issuer(policy: try issuancePolicy(), logger: logger)
        return Onboarding(client: client, vault: try vault.open(), store: try makeStore(), issuer: issuer, logger: logger)
    }
}

/// Runs blocking work off Swift's cooperative pool.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

enum OnboardingOutput {
    /// Text from outside certvault (the server, the intake) made safe for a terminal: records
    /// written by older versions may hold it unescaped.
    static func shown(_ text: String?) -> String { text.map { DisplayText.escapingControls($0) } ?? "?" }

    static func describe(_ record: OnboardingRecord) -> String {
        let intake = record.intake
        var lines = ["\(intake.tenant): \(record.state.rawValue)  (\(shown(intake.officeName)), \(intake.region.rawValue))"]
        switch record.state {
        case .awaitingCustomer:
            lines += [
                "  Give the customer's Global Administrator this code and URL:",
                "    URL:   \(shown(record.verificationUrl))",
                "    code:  \(shown(record.userCode))",
                "    valid until \(shown(record.codeExpiresAt))",
                "  Then: certvault onboard wait \(intake.tenant)   (or 'onboard resume' once the customer says it is done)",
            ]
        case .addingOrganization:
            lines.append("  An add was started and not confirmed; 'certvault onboard resume \(intake.tenant)' looks the organization up first.")
        case .onboarded:
            lines += [
                "  organization:  \(shown(record.organizationId))",
                "  applicationId: \(shown(record.applicationId))",
            ]
            if let msid = record.msid { lines.append("  msid:          \(shown(msid))") }
            lines.append("  thumbprint:    \(shown(record.reportedThumbprint ?? record.thumbprint)) (vault generation \(record.generation.map(String.init) ?? "?"))")
        case .expired:
            lines.append("  The device code ran out. Get a new one: certvault onboard renew-code \(intake.tenant)")
        case .failed:
            break
        }
        if let named = record.vb365OrganizationName {
            lines.append("  warning:       VB365 named the organization '\(shown(named))', not '\(shown(intake.officeName))' as given; "
                         + "use VB365's name when you look for it there.")
        }
        if record.state != .onboarded, let generation = record.generation {
            lines.append("  certificate:   vault generation \(generation), thumbprint \(shown(record.thumbprint))")
        }
        if let failure = record.failure {
            lines.append("  last error:    \(shown(failure.reason))")
            if let hint = failure.hint { lines.append("  what to do:    \(shown(hint))") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One record as a JSON object (the commands about one tenant).
    static func json(_ record: OnboardingRecord) throws -> String { try Terminal.json(record) + "\n" }

    /// Several records as a JSON array (status of all, --all, --from, --due).
    static func json(_ records: [OnboardingRecord]) throws -> String { try Terminal.json(records) + "\n" }

    /// Columns padded to line up (the last one is not padded), two spaces apart.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        var widths = [Int](repeating: 0, count: header.count)
        for row in all {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
        }
        return all.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}

/// `certvault onboard start TENANT ...`
struct OnboardStartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Get a device code for the tenant's customer, issue its certificate meanwhile if needed, and pause (or wait)."
    )

    @Argument(help: "The tenant id (letters, digits, '-', '_', '.'); omit with --from.") var tenant: String?

    @Option(name: .long, help: ArgumentHelp("The Microsoft 365 organization name, e.g. contoso.onmicrosoft.com.", valueName: "name"))
    var orgName: String?

    @Option(name: .long, help: ArgumentHelp("Many tenants from a CSV or JSON file (docs/onboarding.md); every row is checked before anything is sent.", valueName: "file"))
    var from: String?

    @Option(name: .long, help: ArgumentHelp("With --from: tenants worked on at once.", valueName: "n"))
    var jobs: Int = 8

    @Option(name: .long, help: ArgumentHelp("With --from: write every user code and URL to this new file (.csv or .json), for the portal or e-mail.", valueName: "path"))
    var export: String?

    @Option(name: .long, help: ArgumentHelp("The customer's display name (default: the tenant id).", valueName: "name"))
    var displayName: String?

    @Option(name: .long, help: ArgumentHelp("The tenant's Microsoft cloud: Worldwide, Germany, China, USDefence, USGovernment (default: [onboarding] region of --config, else Worldwide).", valueName: "region"))
    var region: String?

    @Option(name: .long, help: ArgumentHelp("Services to back up, comma separated: exchange, sharepoint, teams, teamschats (default: [onboarding] services of --config, else exchange,sharepoint,teams).", valueName: "list"))
    var services: String?

    @Option(name: .long, help: ArgumentHelp("The Entra application VB365 creates (default: 'certvault TENANT').", valueName: "name"))
    var appName: String?

    @Option(name: .long, help: ArgumentHelp("The Microsoft tenant id, if known (lets v8 look the organization up by it).", valueName: "uuid"))
    var msid: String?

    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp("A provider field kept with the record, key=value (repeatable).", valueName: "key=value"))
    var field: [String] = []

    @Option(name: .long, help: ArgumentHelp("Wait up to this many seconds for the customer and then add the organization (default: do not wait).", valueName: "seconds"))
    var wait: Double?

    @Flag(name: .long, help: "Print the record as JSON (for portals and scripts).") var json = false
    @OptionGroup var context: OnboardingContextOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if from != nil {
            guard tenant == nil, orgName == nil else { throw ValidationError("With --from, give no tenant and no --org-name: they come from the file.") }
            guard (1...64).contains(jobs) else { throw ValidationError("--jobs must be 1 to 64.") }
        } else {
            guard tenant != nil, orgName != nil else { throw ValidationError("Give a tenant and --org-name, or --from FILE.") }
            guard export == nil else { throw ValidationError("--export goes with --from.") }
        }
        if let region, VB365Region(rawValue: region) == nil {
            throw ValidationError("--region must be one of \(VB365Region.allCases.map(\.rawValue).joined(separator: ", ")) (British 'Defence').")
        }
        for item in field where !item.contains("=") { throw ValidationError("--field takes key=value, got '\(item)'.") }
    }

    func run() async throws {
        if let from {
            try await BulkOnboarding(context: context, logging: logging, jobs: jobs, json: json).start(try IntakeFile.load(path: from), export: export, wait: wait)
            return
        }
        let defaults = try context.configuration().onboarding
        let intake = try Self.intake(tenant: tenant!, orgName: orgName!, displayName: displayName, region: region ?? defaults.region,
                                     services: services ?? defaults.services ?? "exchange,sharepoint,teams",
                                     appName: appName, msid: msid, fields: field)
        let onboarding = try context.makeOnboarding(logger: logging.makeLogger("certvault.onboard"))
        // The device code and the certificate at once: nobody waits for key generation.
        let quiet = json || wait != nil
        var final = try await blocking {
            try onboarding.startIssuingMeanwhile(intake) { record in if !quiet { Terminal.out(OnboardingOutput.describe(record)) } }
        }
        if let wait {
            if !json { Terminal.out(OnboardingOutput.describe(final)) }
            final = try await blocking { try onboarding.resume(intake.tenant, wait: .poll(seconds: wait)) }
            if !json { Terminal.out(OnboardingOutput.describe(final)) }
        }
        if json { Terminal.out(try OnboardingOutput.json(final)) }
        try OnboardWaitCommand.exitStatus(final, waited: wait != nil)
    }

    static func intake(tenant: String, orgName: String, displayName: String?, region: String, services: String, appName: String?,
                       msid: String?, fields: [String]) throws -> OnboardingRecord.Intake {
        var provider: [String: String] = [:]
        for item in fields {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            provider[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        let values = ["tenant": tenant, "org_name": orgName, "display_name": displayName, "region": region, "services": services,
                      "app_name": appName, "msid": msid].compactMapValues { $0 }
        return try IntakeFile.intake(values, fields: provider)
    }
}

/// `certvault onboard wait TENANT`
struct OnboardWaitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait",
        abstract: "Poll VB365 until the customer has signed in, then add the organization."
    )

    @Argument(help: "The tenant id (omit with --all).") var tenant: String?
    @Flag(name: .long, help: "Every tenant awaiting the customer or with an unfinished add.") var all = false
    @Option(name: .long, help: ArgumentHelp("With --all: tenants worked on at once.", valueName: "n")) var jobs: Int = 8
    @Option(name: .long, help: ArgumentHelp("Give up after this many seconds (the record stays as it is).", valueName: "seconds"))
    var maxWait: Double = 900
    @Option(name: .long, help: ArgumentHelp("Seconds between checks.", valueName: "seconds"))
    var interval: Double = 5
    @Flag(name: .long, help: "Print the record as JSON.") var json = false
    @OptionGroup var context: OnboardingContextOptions
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard all == (tenant == nil) else { throw ValidationError("Give a tenant, or --all.") }
        guard (1...64).contains(jobs) else { throw ValidationError("--jobs must be 1 to 64.") }
    }

    func run() async throws {
        if all {
            let bulk = BulkOnboarding(context: context, logging: logging, jobs: jobs, json: json)
            try await bulk.waitAll(seconds: maxWait, interval: interval)
            return
        }
        let (id, onboarding) = try context.makeOnboarding(for: tenant!, logger: logging.makeLogger("certvault.onboard"))
        onboarding.pollInterval = max(0.2, interval)
        let record = try await Self.unconfirmedExits(4, store: try context.makeStore(), tenant: id, json: json) {
            try await blocking { try onboarding.resume(id, wait: .poll(seconds: maxWait)) }
        }
        Terminal.out(json ? try OnboardingOutput.json(record) : OnboardingOutput.describe(record))
        try Self.exitStatus(record, waited: true)
    }

    /// An add whose outcome is unknown: the error, the record as it stands, and exit status 4.
    static func unconfirmedExits(_ status: Int32, store: OnboardingStore, tenant: TenantID, json: Bool,
                                 _ body: () async throws -> OnboardingRecord) async throws -> OnboardingRecord {
        do {
            return try await body()
        } catch let error as VB365Error where error.outcomeUnknown {
            Terminal.reportError(CertVaultError(error.code, error.error.reason,
                                                hint: "The organization may exist in VB365. Run 'certvault onboard resume \(tenant)' again: it looks it up before sending anything.",
                                                underlying: error.error.underlying))
            if let record = try store.load(tenant) { Terminal.out(json ? try OnboardingOutput.json(record) : OnboardingOutput.describe(record)) }
            throw ExitCode(status)
        }
    }

    /// Exit 0 when onboarded (or, without waiting, when paused as expected); 1 otherwise.
    static func exitStatus(_ record: OnboardingRecord, waited: Bool) throws {
        switch record.state {
        case .onboarded: return
        case .awaitingCustomer where !waited: return
        case .awaitingCustomer: throw ExitCode(3)
        case .addingOrganization: throw ExitCode(4)
        case .expired, .failed: throw ExitCode(1)
        }
    }
}

/// `certvault onboard resume TENANT`
struct OnboardResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Carry the tenant's onboarding as far as it goes now: check the sign-in once, add, or reconcile an unfinished add."
    )

    @Argument(help: "The tenant id.") var tenant: String
    @Flag(name: .long, help: "Do not check the sign-in with VB365: the customer said it is done.") var signedIn = false
    @Flag(name: .long, help: "Print the record as JSON.") var json = false
    @OptionGroup var context: OnboardingContextOptions
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let (id, onboarding) = try context.makeOnboarding(for: tenant, logger: logging.makeLogger("certvault.onboard"))
        let record = try await OnboardWaitCommand.unconfirmedExits(4, store: try context.makeStore(), tenant: id, json: json) {
            try await blocking { try onboarding.resume(id, wait: signedIn ? .assumeSignedIn : .checkOnce) }
        }
        Terminal.out(json ? try OnboardingOutput.json(record) : OnboardingOutput.describe(record))
        try OnboardWaitCommand.exitStatus(record, waited: true)
    }
}

/// `certvault onboard status [TENANT]`
struct OnboardStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show where onboarding stands, for one tenant or all.")

    @Argument(help: "The tenant id (default: all).") var tenant: String?
    @Option(name: .long, help: ArgumentHelp("Where onboarding records are kept (default: $CERTVAULT_ONBOARDING, [onboarding] state_dir of --config, or keys/onboarding).", valueName: "dir"))
    var stateDir: String?
    @Flag(name: .long, help: "Print JSON.") var json = false
    @OptionGroup var file: ConfigurationFileOptions

    func run() throws {
        let store = try OnboardingStore(folder: stateDir ?? file.load().onboarding.stateDirectory)
        let records: [OnboardingRecord]
        if let tenant {
            let id = try TenantID(tenant)
            guard let record = try store.load(id) else {
                throw CertVaultError(.onboardingState, "'\(id)' has no onboarding record in '\(store.folder)'.",
                                     hint: "Start it with 'certvault onboard start \(id) --org-name ...'.")
            }
            records = [record]
        } else {
            records = try store.all()
        }
        if json {
            Terminal.out(tenant != nil ? try OnboardingOutput.json(records[0]) : try OnboardingOutput.json(records))
        } else if tenant != nil {
            Terminal.out(OnboardingOutput.describe(records[0]))
        } else if records.isEmpty {
            Terminal.out("No onboarding records in \(store.folder). Start one with 'certvault onboard start TENANT --org-name NAME.onmicrosoft.com'.\n")
        } else {
            let shown = { (text: String?) in text.map { DisplayText.escapingControls($0) } ?? "-" }
            Terminal.out(OnboardingOutput.table(
                ["tenant", "state", "organization name", "code expires", "VB365 organization"],
                records.map { [$0.intake.tenant.rawValue, $0.state.rawValue, shown($0.vb365OrganizationName ?? $0.intake.officeName),
                               shown($0.codeExpiresAt), shown($0.organizationId)] }))
        }
    }
}

/// `certvault onboard renew-code TENANT`
struct OnboardRenewCodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "renew-code", abstract: "Get a new device code when the old one ran out.")

    @Argument(help: "The tenant id.") var tenant: String
    @Flag(name: .long, help: "Print the record as JSON.") var json = false
    @OptionGroup var context: OnboardingContextOptions
    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let (id, onboarding) = try context.makeOnboarding(for: tenant, logger: logging.makeLogger("certvault.onboard"))
        let record = try await blocking { try onboarding.renewCode(id) }
        Terminal.out(json ? try OnboardingOutput.json(record) : OnboardingOutput.describe(record))
    }
}
