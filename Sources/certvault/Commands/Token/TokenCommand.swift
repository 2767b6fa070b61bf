import ArgumentParser
import CertVaultAccess
import CertVaultConfiguration
import CertVaultCore
import CertVaultServer
import CertVaultVault
import Foundation
import Logging

/// `certvault token create | list | revoke`: the service's API tokens.
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Create, list and revoke API tokens for 'certvault serve'.",
        discussion: """
            A token is printed once, at creation, and only to standard output; the store keeps a keyed \
            hash of it, in a file authenticated with a key derived from the vault's root key (so the vault \
            must be unlocked). See docs/access.md.
            """,
        subcommands: [TokenCreateCommand.self, TokenListCommand.self, TokenRevokeCommand.self]
    )
}

/// Where the token store and the access policies are.
struct TokenStoreOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The token store (default: $CERTVAULT_TOKEN_STORE, else 'tokens' in the vault folder).",
            valueName: "path"))
    var store: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The access policy folder (default: $CERTVAULT_ACCESS_POLICIES, else policy/access).",
            valueName: "dir"))
    var accessPolicies: String?

    /// The store: this option, else $CERTVAULT_TOKEN_STORE, else the configuration's `[tokens] store`,
    /// else `tokens` in the vault folder.
    func storePath(vault: VaultOptions) throws -> String {
        if let path = store ?? Environment.value("CERTVAULT_TOKEN_STORE") { return path }
        let configuration = try vault.configuration()
        if let path = configuration.tokenStore { return path }
        return TokenStore.defaultPath(vault: try vault.vaultPath)
    }

    /// The access policies: this option, else $CERTVAULT_ACCESS_POLICIES, else the configuration's
    /// policy folder's `access/`.
    func accessPolicyFolder(vault: VaultOptions) throws -> String {
        if let folder = accessPolicies ?? Environment.value("CERTVAULT_ACCESS_POLICIES") { return folder }
        return try vault.configuration().accessPolicyFolder
    }

    /// Opens the vault and the store, with the access policies when a command needs them.
    func open(vault: VaultOptions, policies needed: Bool) throws -> TokenStore {
        try openWithVault(vault: vault, policies: needed).store
    }

    /// The store and the vault handle it was opened with (create and revoke write the vault's audit log).
    func openWithVault(vault: VaultOptions, policies needed: Bool) throws -> (store: TokenStore, vault: Vault) {
        let policies = needed ? try AccessPolicySet.load(folder: accessPolicyFolder(vault: vault)) : .empty
        let opened = try vault.open()
        if store ?? Environment.value("CERTVAULT_TOKEN_STORE") == nil {
            // The configuration's [storage]: on PostgreSQL, the store every replica uses.
            let logger = Logger(label: "certvault.cli", factory: { _ in SwiftLogNoOpLogHandler() })
            let storage = try ServiceStorage.open(try vault.configuration(), logger: logger)
            if storage.isShared { return (try storage.tokenStore(vault: opened, policies: policies, logger: logger), opened) }
        }
        return (try TokenStore(vault: opened, path: storePath(vault: vault), policies: policies), opened)
    }
}

/// How tokens look in `--json` output: times as UTC date-times.
struct TokenView: Encodable {
    let accessor: String
    let name: String
    let scopes: [String]
    let policy: String?
    let tenants: [String]?
    let created: String
    let expires: String?
    let lastUsed: String?
    let revoked: String?
    let state: String

    init(_ info: TokenInfo, now: Int64) {
        accessor = info.accessor
        name = info.name
        scopes = info.scopes.map(\.rawValue)
        policy = info.policy
        tenants = info.policy == nil ? (info.tenants ?? ["*"]) : nil
        created = UTCTime.dateTime(info.created)
        expires = info.expires.map(UTCTime.dateTime)
        lastUsed = info.lastUsed.map(UTCTime.dateTime)
        revoked = info.revoked.map(UTCTime.dateTime)
        state = info.state(now: now).rawValue
    }

    /// What the table shows in the SCOPES column.
    var scopeText: String { policy.map { "policy:\($0)" } ?? scopes.joined(separator: ",") }
    var tenantText: String { policy == nil ? (tenants ?? ["*"]).joined(separator: ",") : "(policy)" }
}

/// `certvault token create`.
struct TokenCreateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a token and print it once (standard output only).",
        discussion: """
            Give --scope (with --tenant for the tenants it may see; none: every tenant), or --policy to bind \
            the token to policy/access/NAME.toml, whose scopes and tenants then apply at every request. \
            Scopes: \(Scope.allCases.map(\.rawValue).joined(separator: ", ")).
            """
    )

    @Option(name: .long, help: ArgumentHelp("A name for people, e.g. restore-tooling.", valueName: "name"))
    var name: String

    @Option(name: .long, help: ArgumentHelp("Scopes, comma-separated or repeated.", valueName: "scope[,scope...]"))
    var scope: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp(
            "A tenant id or pattern (eu-*) the token covers; repeat for more. None: every tenant.",
            valueName: "tenant"))
    var tenant: [String] = []

    @Option(name: .long, help: ArgumentHelp("Bind the token to this access policy instead of --scope/--tenant.", valueName: "name"))
    var policy: String?

    @Option(name: .long, help: ArgumentHelp("Lifetime: 90d, 12h, 30m, or none (the default).", valueName: "lifetime"))
    var expires: String = "none"

    @Flag(name: .long, help: "Print JSON (with the token) instead of the bare token.")
    var json = false

    @OptionGroup var tokens: TokenStoreOptions
    @OptionGroup var vault: VaultOptions

    func validate() throws {
        if policy != nil && (!scope.isEmpty || !tenant.isEmpty) {
            throw ValidationError("Give --policy alone, or --scope (and --tenant) without --policy: a policy sets both.")
        }
        if policy == nil && scope.isEmpty {
            throw ValidationError(
                "Give --scope with one or more of \(Scope.allCases.map(\.rawValue).joined(separator: ", ")), or --policy NAME.")
        }
    }

    func run() throws {
        let scopes = Set(
            try scope.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }.map {
                try Scope.parse(String($0).trimmingCharacters(in: .whitespaces))
            })
        let entries = tenant.flatMap { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
        if entries.contains("*") && entries.count > 1 {
            throw CertVaultError(
                .invalidInput, "'*' covers every tenant; nothing else may be given with it.",
                hint: "Give --tenant '*' alone, or only the tenants and patterns the token needs.")
        }
        let tenants = entries.isEmpty || entries == ["*"] ? nil : try TenantSelector(entries)
        let now = UTCTime.now()
        let expiry = try TokenExpiry.parse(expires).map { now + $0 }
        let (store, opened) = try tokens.openWithVault(vault: vault, policies: policy != nil)
        let issued = try store.create(name: name, scopes: scopes, tenants: tenants, policy: policy, expires: expiry, now: now)
        let what = policy.map { "policy \($0)" } ?? "scopes \(scopes.map(\.rawValue).sorted().joined(separator: ",")) tenants \(tenants?.description ?? "*")"
        do {
            try opened.recordAudit(
                action: "token.create",
                detail: "accessor \(issued.info.accessor) name '\(DisplayText.escapingControls(name, limit: 64))' \(what) expires \(expiry.map(UTCTime.dateTime) ?? "never")")
        } catch {
            // A token nobody can account for must not exist: revoke it before failing.
            _ = try? store.revoke(accessor: issued.info.accessor)
            throw CertVaultError(
                .fileSystem, "The token was not issued: its creation could not be written to the vault's audit log.",
                hint: "Check the vault folder (disk space, permissions) and 'certvault audit verify', then create it again.")
        }
        let view = TokenView(issued.info, now: now)
        var bytes: [UInt8] = []
        defer { SecureWipe.wipe(&bytes) }
        if json {
            let rest = Array(try Terminal.json(view).utf8)
            bytes = Array("{\n  \"token\" : \"".utf8)
            issued.token.withUnsafeBytes { bytes.append(contentsOf: $0) }
            bytes += Array("\",".utf8) + rest.dropFirst() + [UInt8(ascii: "\n")]
        } else {
            issued.token.withUnsafeBytes { bytes.append(contentsOf: $0) }
            bytes.append(UInt8(ascii: "\n"))
        }
        try bytes.withUnsafeBytes { try PrivateFiles.writeAll(fd: STDOUT_FILENO, $0, what: "standard output") }
        Terminal.err(
            """
            certvault: created token '\(name)' (accessor \(view.accessor)): \(view.policy == nil ? "scopes \(view.scopeText), tenants \(view.tenantText)" : "access policy '\(view.policy!)'"), \
            expires \(view.expires ?? "never").
            certvault: this is the only time the token is shown; put it in the caller's secret store now.

            """)
        if view.policy == nil && tenants == nil {
            Terminal.err("certvault: note: the token covers every tenant; give --tenant to limit it.\n")
        }
    }
}

/// `certvault token list`.
struct TokenListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List tokens: accessor, name, scopes or policy, tenants, times, state (never the tokens).")

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @OptionGroup var tokens: TokenStoreOptions
    @OptionGroup var vault: VaultOptions

    func run() throws {
        let store = try tokens.open(vault: vault, policies: false)
        let now = UTCTime.now()
        let views = try store.list().map { TokenView($0, now: now) }
        if json {
            Terminal.out(try Terminal.json(views) + "\n")
            return
        }
        guard !views.isEmpty else {
            Terminal.out("No tokens. Create one with 'certvault token create --name NAME --scope SCOPE'.\n")
            return
        }
        var lines = ["ACCESSOR\tNAME\tSTATE\tSCOPES\tTENANTS\tCREATED\tEXPIRES\tLAST USED\tREVOKED"]
        for view in views {
            lines.append(
                [
                    view.accessor, DisplayText.escapingControls(view.name), view.state, view.scopeText, view.tenantText, view.created,
                    view.expires ?? "never", view.lastUsed ?? "-", view.revoked ?? "-",
                ].joined(separator: "\t"))
        }
        Terminal.out(Table.render(lines))
    }
}

/// `certvault token revoke ACCESSOR`.
struct TokenRevokeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke", abstract: "Revoke a token by its accessor; it stops working at once.")

    @Argument(help: "The accessor that 'certvault token list' shows.")
    var accessor: String

    @OptionGroup var tokens: TokenStoreOptions
    @OptionGroup var vault: VaultOptions

    func run() throws {
        // Checked before the vault is opened, so a token pasted here is refused without being repeated.
        if accessor.hasPrefix("cvt_") { try TokenStore.refuseTokenAsAccessor() }
        let (store, opened) = try tokens.openWithVault(vault: vault, policies: false)
        let (info, already) = try store.revoke(accessor: accessor)
        if !already {
            try opened.recordAudit(action: "token.revoke", detail: "accessor \(info.accessor) name '\(DisplayText.escapingControls(info.name, limit: 64))'")
        }
        if already {
            Terminal.out(
                "Token '\(DisplayText.escapingControls(info.name))' (accessor \(info.accessor)) was already revoked at "
                    + "\(info.revoked.map(UTCTime.dateTime) ?? "-").\n")
        } else {
            Terminal.out("Revoked token '\(DisplayText.escapingControls(info.name))' (accessor \(info.accessor)).\n")
        }
    }
}
