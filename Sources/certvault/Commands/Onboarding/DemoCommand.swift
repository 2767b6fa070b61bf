import ArgumentParser
import CertVaultAccess
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
        _ = try PolicyChoice.load(policy)  // a bad policy stops the demo here, not inside the service
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

        // 3. A demo token in the vault's token store: only a hash of it is stored.
        let tokens = try TokenStore(vault: try Vault.open(at: vaultPath, unlock: .keyFile(path: keyFile)))
        let issued = try tokens.create(name: "demo", scopes: [.onboardingWrite, .onboardingRead, .tenantsRead, .credentialsRead],
                                       tenants: nil, policy: nil, expires: UTCTime.now() + 3600)
        step(3, "API token 'demo' (accessor \(issued.info.accessor); scopes onboarding:write, onboarding:read, tenants:read, credentials:read; "
             + "1 hour) created in \(tokens.path); the token itself is shown nowhere")

        // 4. The service: 'certvault serve' as a child process, self-signed TLS, the worker on.
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
        let api = try DemoAPI(ready: ready, token: issued.token, logger: logger)
        let health = try await blocking { try api.send("GET", "/healthz") }
        step(4, "certvault serve (pid \(ready.pid)) on \(ready.url): self-signed TLS certificate \(ready.certificateFile ?? "?"),"
             + " SHA-256 fingerprint \(ready.fingerprintSHA256 ?? "?"); GET /healthz over HTTPS, that certificate pinned: \(health.status)")

        // 5. Onboarding starts over the API: the service asks VB365 for a device code.
        let started = try await blocking { () throws -> [String: String] in
            let answer = try api.json("POST", "/v1/onboardings", body: [
                "tenant": "contoso", "organizationName": "contoso.onmicrosoft.com", "displayName": "Contoso Ltd", "region": "Worldwide",
                "providerFields": ["ticket": "DEMO-1"],
            ], expect: 202)
            return answer.compactMapValues { $0 as? String }
        }
        let code = started["userCode"] ?? ""
        step(5, "POST /v1/onboardings {tenant: contoso}: 202; the customer gets code \(code) for \(started["verificationUrl"] ?? "?")"
             + " (valid until \(started["codeExpiresAt"] ?? "?"))")

        // 6. The pause: the customer's Global Administrator signs in (here the simulator plays them);
        // the service's background worker notices, issues the certificate and adds the organization.
        step(6, "PAUSE: the customer's Global Administrator signs in (the simulator plays the customer in 2 s); the service's worker checks every second")
        DispatchQueue.global().asyncAfter(deadline: .now() + 2) { simulator.signIn(userCode: code) }
        let state = try await blocking { try api.waitForOnboarding("contoso", service: service, seconds: 120) }
        step(7, "UNPAUSE: GET /v1/onboardings/contoso says \(state); the worker sent POST /\(version.rawValue)/Organizations with the PFX and password from the vault")
        let record = try OnboardingStore(folder: stateDir).load(try TenantID("contoso"))
        if let record { Terminal.out("\n" + OnboardingOutput.describe(record)) }

        // 8. What restore tooling gets, over the API (audited; shown here without the PFX and password).
        let metadata = try await blocking { DemoAPI.metadata(try api.json("GET", "/v1/tenants/contoso/credential?purpose=demo", expect: 200)) }
        Terminal.out("\nGET /v1/tenants/contoso/credential?purpose=demo (metadata only; the PFX and password are left out here):\n"
                     + metadata + "\n")
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
        guard state == "onboarded" else {
            throw CertVaultError(.onboardingState, "The demo did not reach 'onboarded' (state \(state)).",
                                 hint: record?.failure?.hint ?? "See the service's log: \(service.logFile).")
        }
    }

    private func step(_ number: Int, _ text: String) {
        Terminal.out("[\(number)] \(text)\n")
    }
}
