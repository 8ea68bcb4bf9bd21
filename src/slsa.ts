/**
 * The SLSA provenance's identifiers: its predicate type and this tool as its builder. src/sign/provenance.ts writes
 * them into the statement `pipeline push --provenance` attaches; the admission policies (src/admission/) require them.
 */

/** The in-toto predicate type of SLSA provenance v1. */
export const SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1";
/** `runDetails.builder.id` of the provenance we write: this tool. */
export const BUILDER_ID = "urn:rules_pipeline:pipeline-cli";
