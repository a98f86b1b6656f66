/** The layers of apps/cache-node/src, top to bottom ("." is the composition root). */
export declare const HOST_LAYERS: readonly string[];
/** The relative specifiers a source file imports or re-exports, static and dynamic. */
export declare function importsOf(text: string): string[];
/** Every breach of the layer rules in the tree at srcDir; empty when it keeps them. */
export declare function checkLayers(srcDir: string, layers?: readonly string[]): string[];
