/** Speeds an emulator runs at: from a thousandth of real time to a million times faster. Apart, so the CLI's flag parsers need not load the server. */
export const emulatorSpeeds = { slowest: 1e-3, fastest: 1e6 } as const;
