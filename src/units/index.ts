export * from "./duration.js";
export * from "./size.js";
