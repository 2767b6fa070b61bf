public import CertVaultOnboarding
public import ServiceLifecycle

/// The background onboarding worker as a service of the ServiceGroup: it runs until graceful
/// shutdown, then stops starting tenants and gives the ones in flight their drain time
/// (``OnboardingWorker/Settings/drainSeconds``); when the group cancels it (the grace period ran
/// out) it returns at once. Either way every onboarding stays resumable.
public struct OnboardingWorkerService: Service {
    /// The worker; routes call ``OnboardingWorker/wake()`` after starting an onboarding.
    public let worker: OnboardingWorker

    public init(worker: OnboardingWorker) {
        self.worker = worker
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await worker.run()
        } onGracefulShutdown: {
            worker.stop()
        }
    }
}
