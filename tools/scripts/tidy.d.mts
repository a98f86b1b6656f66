export declare const LINE_LENGTH_MAX: number;
export declare const FUNCTION_LINES_MAX: number;
/** Abbreviations a declared name may not use as one of its words, with the word to write instead. */
export declare const BANNED_ABBREVIATIONS: Readonly<Record<string, string>>;
/** The words of an identifier: camelCase, PascalCase and SNAKE_CASE parts, lower-cased. */
export declare function wordsOf(name: string): string[];
/** The problems of one file, as "path:line: what" lines. `file` is relative to the repository. */
export declare function tidyProblems(file: string, text: string): string[];
/** The tracked TypeScript and JavaScript sources the checks cover. */
export declare function trackedSources(): string[];
