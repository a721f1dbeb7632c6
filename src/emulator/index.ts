/** The emulated model server (`switchyard emulate`): the programmatic API the gateway tests and `switchyard up` use. */
export { EmulatorError, emulatorProfile, startEmulator, type EmulatorOptions, type EmulatorStats, type RunningEmulator } from './emulator-server.js';
export { applyFaults, faultsUpdateSchema, noFaults, parseFaultsUpdate, type Faults, type FaultsUpdate, type ParsedFaults } from './faults.js';
export { BatchScheduler, schedulerConfigFromProfile, type SchedulerConfig, type SchedulerEvent, type SequenceSpec, type SubmitResult } from './batch-scheduler.js';
export { corruptMarker, corruptPlan, eventsOfToken, planCompletion, promptRandom, vocabulary, type CompletionPlan, type GenerateOptions, type TokenEvent } from './generate.js';
export { createEmulatorMetrics, type EmulatorMetrics, type ReplicaLoad } from './metrics.js';
export { emulatorSpeeds } from './emulator-speeds.js';
