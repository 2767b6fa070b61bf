import ArgumentParser
import CertVaultCore
import CertVaultHTTP
import CertVaultIssuer
import CertVaultOnboarding
import CertVaultPolicy
import CertVaultServer
import CertVaultVB365
import CertVaultVB365Simulator
import CertVaultVault
import Foundation
import Logging

/// `certvault demo`: the whole job end to end against the simulator, for a new user.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the whole onboarding flow against the built-in VB365 simulator: vault, device code, sign-in, organization, restore credential.",
        discussion: """
            Starts the simulator on loopback, creates a new vault with a fresh key in a new folder \
            under --dir, onboards a sample tenant (the simulator plays the customer signing in), and \
            shows the onboarded state and the restore credential's metadata (never the password). \
            The same commands work against a real VB365 server: see docs/onboarding.md.
            """
    )

    @Option(name: .long, help: ArgumentHelp("Parent folder for the demo's run folder.", valueName: "dir"))
    var dir: String = "keys/demo"

    @Option(name: .long, help: ArgumentHelp("The API version the simulator serves: v6, v7 or v8.", valueName: "version"))
    var apiVersion: String = "v8"

    @Option(name: .long, help: ArgumentHelp(PolicyChoice.help, valueName: "path"))
    var policy: String?

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard VB365APIVersion(rawValue: apiVersion) != nil else { throw ValidationError("--api-version must be v6, v7 or v8.") }
    }

    func run() async throws {
        let logger = logging.makeLogger("certvault.demo")
        let version = VB365APIVersion(rawValue: apiVersion)!
        let issuer = Issuer(policy: try PolicyChoice.load(policy), logger: logger)
        try PrivateFiles.makePrivateDirectory(dir)
        let stamp = UTCTime.dateTime(UTCTime.now()).replacingOccurrences(of: ":", with: "").replacingOccurrences(of: "-", with: "")
        let run = "\(dir)/run-\(stamp)-\(PrivateFiles.randomName().prefix(6))"
        try PrivateFiles.makePrivateDirectory(run)

        // 1. A VB365 server: the simulator, on loopback, over TLS with a certificate certvault made.
        let account = "VB365\\demo"
        let accountPassword = PasswordFactory.generate(IssuancePolicy.PasswordRules(length: 24, allowSupplied: false, minimumSuppliedLength: 0))
        let simulator = try VB365Simulator(configuration: .init(version: version, users: [account: accountPassword.withUnsafeBytes {
            String(decoding: $0, as: UTF8.self)
        }]), port: 0)
        try simulator.start()
        defer { simulator.stop() }
        let caFile = "\(run)/vb365.pem"
        try PrivateFiles.writeNewFileAtomically(caFile, bytes: Array(simulator.identity!.certificatePEM.utf8))
        step(1, "VB365 simulator (API \(version.rawValue)) on \(simulator.baseURL), trusted through \(caFile)")

        // 2. A vault with a fresh root key.
        let vaultPath = "\(run)/vault"
        let keyFile = "\(run)/vault-key/root.key"
        _ = try Vault.create(at: vaultPath, protection: .keyFile(path: keyFile))  // the service opens it
        step(2, "new vault \(vaultPath), root key \(keyFile) (0600 in a 0700 folder)")

        // 3. The service: 'certvault serve' as a child process, self-signed TLS, the worker on.
        let passwordFile = "\(run)/vb365.password"
        try PrivateFiles.writeNewFileAtomically(passwordFile, secret: accountPassword)
        let stateDir = "\(run)/onboarding"
        let configFile = "\(run)/certvault.toml"
        try PrivateFiles.writeNewFileAtomically(configFile, bytes: Array(DemoService.configuration(
            vault: vaultPath, keyFile: keyFile, vb365: simulator.baseURL, user: account, passwordFile: passwordFile, caFile: caFile,
            stateDir: stateDir, policy: policy ?? Environment.value("CERTVAULT_POLICY").flatMap { $0.isEmpty ? nil : $0 }).utf8))
        let service = try DemoService.start(configFile: configFile, run: run)
        defer { service.stop() }
        let ready = try service.waitUntilReady()
        let api = try DemoAPI(ready: ready, logger: logger)
        let health = try await blocking { try api.get("/healthz") }
        step(3, "certvault serve (pid \(ready.pid)) on \(ready.url), self-signed TLS certificate \(ready.certificateFile ?? "?"),"
             + " SHA-256 fingerprint \(ready.fingerprintSHA256 ?? "?"); GET /healthz over HTTPS, pinned: \(health.status)")

        // 4. Onboarding starts: device code for the customer, certificate issued meanwhile.
        let client = try VB365Client(configuration: .init(serverURL: simulator.baseURL, username: account, http: .init(trust: .caFile(caFile))),
                                     password: accountPassword, logger: logger)
        let store = try OnboardingStore(folder: stateDir)
        let starter = Onboarding(client: client, vault: try Vault.open(at: vaultPath, unlock: .keyFile(path: keyFile)), store: store,
                                 issuer: issuer, logger: logger)
        let intake = OnboardingRecord.Intake(tenant: try TenantID("contoso"), displayName: "Contoso Ltd", officeName: "contoso.onmicrosoft.com",
                                             region: .worldwide, providerFields: ["ticket": "DEMO-1"])
        let started = try await blocking { try starter.startIssuingMeanwhile(intake) }
        let generation = started.generation ?? 0
        step(4, "onboarding of contoso started: the customer gets code \(started.userCode ?? "?") for \(started.verificationUrl ?? "?")"
             + " (valid until \(started.codeExpiresAt ?? "?")); meanwhile certificate generation \(generation) was issued into the vault")

        // 5. The pause: the customer's Global Administrator signs in (here the simulator plays them);
        // the service's background worker notices and adds the organization.
        step(5, "PAUSE: the customer's Global Administrator signs in (the simulator plays the customer in 2 s); the service's worker checks every second")
        let code = started.userCode ?? ""
        DispatchQueue.global().asyncAfter(deadline: .now() + 2) { simulator.signIn(userCode: code) }
        let record = try await blocking { try DemoService.waitForWorker(store: store, tenant: intake.tenant, service: service, seconds: 120) }
        step(6, "UNPAUSE: signed in; the service's worker sent POST /\(version.rawValue)/Organizations with the PFX and password from the vault")
        Terminal.out("\n" + OnboardingOutput.describe(record))

        // 7. What restore tooling gets (metadata only here: never print a password in a demo).
        let reader = try Vault.open(at: vaultPath, unlock: .keyFile(path: keyFile))
        let credential = try RestoreCredential.retrieve(vault: reader, record: record, tenant: intake.tenant, purpose: "demo", secrets: false)
        Terminal.out("\nrestore-credential contoso --metadata-only:\n" + String(decoding: credential.json(includeSecrets: false), as: UTF8.self))
        service.stop()
        // The command as this run was invoked: a path as typed (.build/release/certvault), or the
        // bare name when it was found on PATH (an installed tool).
        let me = CommandLine.arguments.first.map { $0.contains("/") ? $0 : "certvault" } ?? "certvault"
        Terminal.out("""

            Everything of this run is in \(run). To look again:
              export CERTVAULT_VAULT=\(vaultPath) CERTVAULT_KEY_FILE=\(keyFile) CERTVAULT_ONBOARDING=\(run)/onboarding
              \(me) onboard status contoso
              \(me) list
              \(me) audit show
            The service's configuration is \(configFile) (the simulator has stopped; docs/service.md):
              \(me) serve --config \(configFile)
            Against a real VB365 server (docs/onboarding.md):
              certvault onboard start TENANT --org-name TENANT.onmicrosoft.com --url https://HOST:4443 --user 'DOMAIN\\user' \\
                  --ca-file vb365.pem --vb365-password-file FILE
              certvault onboard wait TENANT ...       (after the customer signed in)
              certvault restore-credential TENANT

            """)
        guard record.state == .onboarded else {
            throw CertVaultError(.onboardingState, "The demo did not reach 'onboarded' (state \(record.state.rawValue)).",
                                 hint: record.failure?.hint ?? "Run it again with --verbose.")
        }
    }

    private func step(_ number: Int, _ text: String) {
        Terminal.out("[\(number)] \(text)\n")
    }
}
